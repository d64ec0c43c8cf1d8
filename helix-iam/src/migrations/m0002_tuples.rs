//! Relationship tuples `object_type:object_id#relation@subject`.
//!
//! A user subject is stored as `subject_type = 'user'`, `subject_id = <uuid>`,
//! `subject_relation = ''`; a subject set `team:eng#member` as `team`, `eng`, `member`. The
//! primary key covers every column of the tuple (organization first), so writing a tuple
//! twice is idempotent; a second index serves reverse lookups ("what does this subject
//! reach?").

use helix_core::migrate::exec_for;
use helix_core::rls::TenantTable;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_iam_0002_tuples"
    }
}

const SQLITE: &str = r#"
CREATE TABLE iam_tuples (
    org_id BLOB NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    relation TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_relation TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    PRIMARY KEY (org_id, object_type, object_id, relation, subject_type, subject_id, subject_relation)
);
CREATE INDEX iam_tuples_org_subject ON iam_tuples (org_id, subject_type, subject_id, subject_relation);
"#;

const POSTGRES: &str = r#"
CREATE TABLE iam_tuples (
    org_id uuid NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    object_type text NOT NULL,
    object_id text NOT NULL,
    relation text NOT NULL,
    subject_type text NOT NULL,
    subject_id text NOT NULL,
    subject_relation text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, object_type, object_id, relation, subject_type, subject_id, subject_relation)
);
CREATE INDEX iam_tuples_org_subject ON iam_tuples (org_id, subject_type, subject_id, subject_relation);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        TenantTable::new("iam_tuples").apply(manager).await
    }
}
