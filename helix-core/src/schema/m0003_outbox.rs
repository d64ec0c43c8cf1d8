//! The transactional outbox.

use sea_orm_migration::prelude::*;

use crate::migrate::exec_for;
use crate::rls::TenantTable;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_core_0003_outbox"
    }
}

const SQLITE: &str = r#"
CREATE TABLE helix_outbox_events (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    fanned_out INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX helix_outbox_events_pending ON helix_outbox_events (fanned_out, created_at);
"#;

const POSTGRES: &str = r#"
CREATE TABLE helix_outbox_events (
    id uuid PRIMARY KEY,
    org_id uuid,
    topic text NOT NULL,
    payload jsonb NOT NULL,
    correlation_id text NOT NULL,
    created_at timestamptz NOT NULL,
    fanned_out boolean NOT NULL DEFAULT false
);
CREATE INDEX helix_outbox_events_pending ON helix_outbox_events (created_at) WHERE NOT fanned_out;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        // Tenants may only add events; the dispatcher works on the platform path.
        TenantTable::new("helix_outbox_events")
            .app_privileges("INSERT")
            .apply(manager)
            .await?;
        Ok(())
    }
}
