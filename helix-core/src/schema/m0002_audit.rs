//! The audit log and its per-tenant chain heads.

use sea_orm_migration::prelude::*;

use crate::migrate::exec_for;
use crate::rls::TenantTable;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_core_0002_audit_log"
    }
}

const SQLITE: &str = r#"
CREATE TABLE helix_audit_log (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    occurred_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT,
    correlation_id TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (org_id, seq)
);
CREATE INDEX helix_audit_log_org_time ON helix_audit_log (org_id, occurred_at);
CREATE INDEX helix_audit_log_org_entity ON helix_audit_log (org_id, entity_type, entity_id);
CREATE INDEX helix_audit_log_org_actor ON helix_audit_log (org_id, actor);
CREATE TABLE helix_audit_heads (
    org_id BLOB PRIMARY KEY NOT NULL,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"#;

const POSTGRES: &str = r#"
CREATE TABLE helix_audit_log (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL,
    seq bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    entity_type text NOT NULL,
    entity_id text,
    correlation_id text NOT NULL,
    ip text,
    user_agent text,
    data jsonb NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    UNIQUE (org_id, seq)
);
CREATE INDEX helix_audit_log_org_time ON helix_audit_log (org_id, occurred_at);
CREATE INDEX helix_audit_log_org_entity ON helix_audit_log (org_id, entity_type, entity_id);
CREATE INDEX helix_audit_log_org_actor ON helix_audit_log (org_id, actor);
CREATE TABLE helix_audit_heads (
    org_id uuid PRIMARY KEY,
    seq bigint NOT NULL,
    hash text NOT NULL
);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        TenantTable::new("helix_audit_log")
            .app_privileges("SELECT, INSERT")
            .apply(manager)
            .await?;
        TenantTable::new("helix_audit_heads")
            .app_privileges("SELECT, INSERT, UPDATE")
            .apply(manager)
            .await?;
        Ok(())
    }
}
