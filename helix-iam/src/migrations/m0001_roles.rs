//! Roles, their permissions and scoped assignments.
//!
//! `iam_assignments` references its role with a composite key `(org_id, role_id)` and no
//! `ON DELETE` action (`NO ACTION`, checked at the end of the statement): deleting a role
//! that is still assigned fails, while deleting the whole organization cascades through
//! both tables in one statement.

use helix_core::migrate::exec_for;
use helix_core::rls::TenantTable;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_iam_0001_roles"
    }
}

const SQLITE: &str = r#"
CREATE TABLE iam_roles (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    "key" TEXT NOT NULL,
    name TEXT NOT NULL,
    builtin BOOLEAN NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (org_id, "key"),
    UNIQUE (org_id, id)
);
CREATE TABLE iam_role_permissions (
    org_id BLOB NOT NULL,
    role_id BLOB NOT NULL,
    permission TEXT NOT NULL,
    PRIMARY KEY (org_id, role_id, permission),
    FOREIGN KEY (org_id, role_id) REFERENCES iam_roles (org_id, id) ON DELETE CASCADE
);
CREATE TABLE iam_assignments (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    role_id BLOB NOT NULL,
    scope TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (org_id, subject, role_id, scope),
    FOREIGN KEY (org_id, role_id) REFERENCES iam_roles (org_id, id)
);
CREATE INDEX iam_assignments_org_subject ON iam_assignments (org_id, subject);
CREATE INDEX iam_assignments_org_role ON iam_assignments (org_id, role_id);
"#;

const POSTGRES: &str = r#"
CREATE TABLE iam_roles (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    "key" text NOT NULL,
    name text NOT NULL,
    builtin boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (org_id, "key"),
    UNIQUE (org_id, id)
);
CREATE TABLE iam_role_permissions (
    org_id uuid NOT NULL,
    role_id uuid NOT NULL,
    permission text NOT NULL,
    PRIMARY KEY (org_id, role_id, permission),
    FOREIGN KEY (org_id, role_id) REFERENCES iam_roles (org_id, id) ON DELETE CASCADE
);
CREATE TABLE iam_assignments (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    subject text NOT NULL,
    role_id uuid NOT NULL,
    scope text NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    UNIQUE (org_id, subject, role_id, scope),
    FOREIGN KEY (org_id, role_id) REFERENCES iam_roles (org_id, id)
);
CREATE INDEX iam_assignments_org_subject ON iam_assignments (org_id, subject);
CREATE INDEX iam_assignments_org_role ON iam_assignments (org_id, role_id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        for table in ["iam_roles", "iam_role_permissions", "iam_assignments"] {
            TenantTable::new(table).apply(manager).await?;
        }
        Ok(())
    }
}
