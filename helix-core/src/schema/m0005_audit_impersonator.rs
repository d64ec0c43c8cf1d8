//! The audit log's `impersonator` column: who acted as the row's `actor` (a platform-support
//! account impersonating the user), `NULL` for work done by the actor in person.
//!
//! Additive: existing rows get `NULL`, and the hash chain encodes the member only when it is
//! present, so rows written before this migration still verify. The column is covered by the
//! table's existing privileges and append-only triggers.

use sea_orm_migration::prelude::*;

use crate::migrate::exec_for;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_core_0005_audit_impersonator"
    }
}

const SQLITE: &str = r#"
ALTER TABLE helix_audit_log ADD COLUMN impersonator TEXT;
CREATE INDEX helix_audit_log_org_impersonator ON helix_audit_log (org_id, impersonator);
"#;

const POSTGRES: &str = r#"
ALTER TABLE helix_audit_log ADD COLUMN impersonator text;
CREATE INDEX helix_audit_log_org_impersonator ON helix_audit_log (org_id, impersonator)
    WHERE impersonator IS NOT NULL;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await
    }
}
