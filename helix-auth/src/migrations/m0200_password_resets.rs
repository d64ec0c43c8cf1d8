//! Password-reset tokens.
//!
//! `auth_password_resets`: one row per reset requested, storing only the SHA-256 of the
//! token. A token is usable while `used_at` and `revoked_at` are null and `expires_at` is in
//! the future; using one marks it used with a conditional `UPDATE ... WHERE used_at IS NULL`
//! and revokes the account's other outstanding tokens. `created_at` serves the per-account
//! request limit. Platform-plane, like every auth table.

use helix_core::migrate::exec_for;
use helix_core::rls::grant_platform_table;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0200_password_resets"
    }
}

const SQLITE: &str = r#"
CREATE TABLE auth_password_resets (
    id BLOB PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    account_id BLOB NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX auth_password_resets_account ON auth_password_resets (account_id, created_at);
"#;

const POSTGRES: &str = r#"
CREATE TABLE auth_password_resets (
    id uuid PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    account_id uuid NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX auth_password_resets_account ON auth_password_resets (account_id, created_at);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        grant_platform_table(manager, "auth_password_resets", "SELECT, INSERT, UPDATE").await
    }
}
