//! One-time codes over channels (e-mail, SMS, WhatsApp).
//!
//! - `auth_one_time_codes`: one row per code sent: the account, the purpose, the channel,
//!   the SHA-256 of a per-code random salt and the code, expiry and use. `created_at`
//!   serves the send limit.
//! - `auth_otp_attempts`: one row per verification attempt (the verify limit).
//! - `auth_otp_state`: per account, the phone number (E.164, unverified until a code sent
//!   to it is verified) and the one-time-code lockout.
//!
//! Platform-plane, like every auth table.

use helix_core::migrate::exec_for;
use helix_core::rls::grant_platform_table;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0600_one_time_codes"
    }
}

const SQLITE: &str = r#"
CREATE TABLE auth_one_time_codes (
    id BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    channel TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    salt TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX auth_one_time_codes_account ON auth_one_time_codes (account_id, created_at);
CREATE TABLE auth_otp_attempts (
    id BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    succeeded INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX auth_otp_attempts_account ON auth_otp_attempts (account_id, created_at);
CREATE TABLE auth_otp_state (
    account_id BLOB PRIMARY KEY NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    phone TEXT,
    phone_verified_at TEXT,
    locked_until TEXT,
    updated_at TEXT NOT NULL
);
"#;

const POSTGRES: &str = r#"
CREATE TABLE auth_one_time_codes (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    purpose text NOT NULL,
    channel text NOT NULL,
    code_hash text NOT NULL,
    salt text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX auth_one_time_codes_account ON auth_one_time_codes (account_id, created_at);
CREATE TABLE auth_otp_attempts (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    purpose text NOT NULL,
    succeeded boolean NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX auth_otp_attempts_account ON auth_otp_attempts (account_id, created_at);
CREATE TABLE auth_otp_state (
    account_id uuid PRIMARY KEY REFERENCES auth_accounts (id) ON DELETE CASCADE,
    phone text,
    phone_verified_at timestamptz,
    locked_until timestamptz,
    updated_at timestamptz NOT NULL
);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        grant_platform_table(manager, "auth_one_time_codes", "SELECT, INSERT, UPDATE").await?;
        grant_platform_table(manager, "auth_otp_attempts", "SELECT, INSERT").await?;
        grant_platform_table(manager, "auth_otp_state", "SELECT, INSERT, UPDATE").await
    }
}
