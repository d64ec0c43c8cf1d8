//! Stored responses for `Idempotency-Key`.

use sea_orm_migration::prelude::*;

use crate::migrate::exec_for;
use crate::rls::grant_platform_table;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_core_0004_idempotency_keys"
    }
}

const SQLITE: &str = r#"
CREATE TABLE helix_idempotency_keys (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER,
    content_type TEXT,
    location TEXT,
    body BLOB,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX helix_idempotency_keys_expiry ON helix_idempotency_keys (expires_at);
"#;

const POSTGRES: &str = r#"
CREATE TABLE helix_idempotency_keys (
    scope text NOT NULL,
    idem_key text NOT NULL,
    request_hash text NOT NULL,
    status integer,
    content_type text,
    location text,
    body bytea,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX helix_idempotency_keys_expiry ON helix_idempotency_keys (expires_at);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        grant_platform_table(
            manager,
            "helix_idempotency_keys",
            "SELECT, INSERT, UPDATE, DELETE",
        )
        .await
    }
}
