//! Accounts, password history, email verification tokens and security events.

use helix_core::migrate::exec_for;
use helix_core::rls::grant_platform_table;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0001_accounts"
    }
}

const SQLITE: &str = r#"
CREATE TABLE auth_accounts (
    id BLOB PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    email_verified_at TEXT,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until TEXT,
    last_login_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE auth_password_history (
    id BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX auth_password_history_account ON auth_password_history (account_id, created_at);
CREATE TABLE auth_email_verifications (
    id BLOB PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    account_id BLOB NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX auth_email_verifications_account ON auth_email_verifications (account_id, created_at);
CREATE TABLE auth_security_events (
    id BLOB PRIMARY KEY NOT NULL,
    account_id BLOB REFERENCES auth_accounts (id) ON DELETE SET NULL,
    kind TEXT NOT NULL,
    email_hash TEXT,
    ip TEXT,
    user_agent TEXT,
    correlation_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX auth_security_events_account ON auth_security_events (account_id, occurred_at);
CREATE INDEX auth_security_events_email ON auth_security_events (email_hash, occurred_at);
"#;

const POSTGRES: &str = r#"
CREATE TABLE auth_accounts (
    id uuid PRIMARY KEY,
    email text NOT NULL UNIQUE CHECK (email = lower(email)),
    email_verified_at timestamptz,
    password_hash text NOT NULL,
    failed_logins integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until timestamptz,
    last_login_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE auth_password_history (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    hash text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX auth_password_history_account ON auth_password_history (account_id, created_at);
CREATE TABLE auth_email_verifications (
    id uuid PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    account_id uuid NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX auth_email_verifications_account ON auth_email_verifications (account_id, created_at);
CREATE TABLE auth_security_events (
    id uuid PRIMARY KEY,
    account_id uuid REFERENCES auth_accounts (id) ON DELETE SET NULL,
    kind text NOT NULL,
    email_hash text,
    ip text,
    user_agent text,
    correlation_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    data jsonb NOT NULL
);
CREATE INDEX auth_security_events_account ON auth_security_events (account_id, occurred_at);
CREATE INDEX auth_security_events_email ON auth_security_events (email_hash, occurred_at);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        grant_platform_table(manager, "auth_accounts", "SELECT, INSERT, UPDATE, DELETE").await?;
        grant_platform_table(manager, "auth_password_history", "SELECT, INSERT, DELETE").await?;
        grant_platform_table(
            manager,
            "auth_email_verifications",
            "SELECT, INSERT, UPDATE",
        )
        .await?;
        // Security events are append-only for the application.
        grant_platform_table(manager, "auth_security_events", "SELECT, INSERT").await
    }
}
