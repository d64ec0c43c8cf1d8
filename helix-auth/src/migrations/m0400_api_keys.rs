//! API keys.
//!
//! `auth_api_keys`: one row per key, storing only the keyed hash of its secret
//! (`HMAC-SHA256` under the server's `auth.api_keys.hash_key`), never the key. The primary
//! key is the id embedded in the key (`hx_<id>_<secret>`), so a presented key finds its row
//! by primary key; `owner_ref` is the host's opaque owner reference (the reference server:
//! `org:<uuid>`), indexed for listing. Scopes are a JSON array of strings. Platform-plane,
//! like every auth table: the owner is not an `org_id` helix-auth knows about.

use helix_core::migrate::exec_for;
use helix_core::rls::grant_platform_table;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0400_api_keys"
    }
}

const SQLITE: &str = r#"
CREATE TABLE auth_api_keys (
    id BLOB PRIMARY KEY NOT NULL,
    owner_ref TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_by BLOB REFERENCES auth_accounts (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX auth_api_keys_owner ON auth_api_keys (owner_ref, created_at);
"#;

const POSTGRES: &str = r#"
CREATE TABLE auth_api_keys (
    id uuid PRIMARY KEY,
    owner_ref text NOT NULL CHECK (length(owner_ref) BETWEEN 1 AND 200),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    secret_hash text NOT NULL,
    scopes text NOT NULL,
    created_by uuid REFERENCES auth_accounts (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX auth_api_keys_owner ON auth_api_keys (owner_ref, created_at);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        grant_platform_table(manager, "auth_api_keys", "SELECT, INSERT, UPDATE").await
    }
}
