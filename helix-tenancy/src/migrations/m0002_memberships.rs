//! Memberships: which users belong to an organization, with which role.

use helix_core::migrate::exec_for;
use helix_core::rls::TenantTable;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_tenancy_0002_memberships"
    }
}

const SQLITE: &str = r#"
CREATE TABLE tenancy_memberships (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL,
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'read_only')),
    created_at TEXT NOT NULL,
    UNIQUE (org_id, user_id),
    UNIQUE (org_id, email)
);
CREATE INDEX tenancy_memberships_org_role ON tenancy_memberships (org_id, role);
"#;

const POSTGRES: &str = r#"
CREATE TABLE tenancy_memberships (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'read_only')),
    created_at timestamptz NOT NULL,
    UNIQUE (org_id, user_id),
    UNIQUE (org_id, email)
);
CREATE INDEX tenancy_memberships_org_role ON tenancy_memberships (org_id, role);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        TenantTable::new("tenancy_memberships").apply(manager).await
    }
}
