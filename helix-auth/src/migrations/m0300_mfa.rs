//! Multi-factor authentication.
//!
//! - `auth_mfa_totp`: one row per account with a TOTP authenticator. `secret_sealed` is the
//!   secret sealed by [`crate::crypto::KeyRing`] (bound to the account id), `key_id` the id
//!   of the key that sealed it (so rotation can find what to re-seal). `confirmed_at` is null
//!   while the enrolment is pending. `last_used_step` is the newest accepted RFC 6238 time
//!   step: a code of that step or older is refused (no replay within its window).
//! - `auth_mfa_backup_codes`: single-use recovery codes, only their SHA-256 (see
//!   [`crate::mfa`] for why a fast hash is enough for 60 random bits).
//! - `auth_mfa_challenges`: the short-lived MFA tokens issued by a login that needs a second
//!   factor, only their SHA-256; `failed_attempts` kills a token after too many wrong codes.
//! - `auth_sessions.amr`: how the session authenticated (RFC 8176 names, space-separated),
//!   carried by its access tokens as `amr`.
//!
//! Platform-plane, like every auth table.

use helix_core::migrate::exec_for;
use helix_core::rls::grant_platform_table;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0300_mfa"
    }
}

const SQLITE: &str = r#"
CREATE TABLE auth_mfa_totp (
    account_id BLOB PRIMARY KEY NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    key_id TEXT NOT NULL,
    confirmed_at TEXT,
    last_used_step INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX auth_mfa_totp_key ON auth_mfa_totp (key_id);
CREATE TABLE auth_mfa_backup_codes (
    id BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, code_hash)
);
CREATE TABLE auth_mfa_challenges (
    id BLOB PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    account_id BLOB NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    ip TEXT,
    user_agent TEXT,
    failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    expires_at TEXT NOT NULL,
    used_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX auth_mfa_challenges_account ON auth_mfa_challenges (account_id, created_at);
ALTER TABLE auth_sessions ADD COLUMN amr TEXT;
"#;

const POSTGRES: &str = r#"
CREATE TABLE auth_mfa_totp (
    account_id uuid PRIMARY KEY REFERENCES auth_accounts (id) ON DELETE CASCADE,
    secret_sealed text NOT NULL,
    key_id text NOT NULL,
    confirmed_at timestamptz,
    last_used_step bigint,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX auth_mfa_totp_key ON auth_mfa_totp (key_id);
CREATE TABLE auth_mfa_backup_codes (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL,
    CONSTRAINT auth_mfa_backup_codes_account_code UNIQUE (account_id, code_hash)
);
CREATE TABLE auth_mfa_challenges (
    id uuid PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    account_id uuid NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    ip text,
    user_agent text,
    failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX auth_mfa_challenges_account ON auth_mfa_challenges (account_id, created_at);
ALTER TABLE auth_sessions ADD COLUMN amr text;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        for table in [
            "auth_mfa_totp",
            "auth_mfa_backup_codes",
            "auth_mfa_challenges",
        ] {
            grant_platform_table(manager, table, "SELECT, INSERT, UPDATE, DELETE").await?;
        }
        Ok(())
    }
}
