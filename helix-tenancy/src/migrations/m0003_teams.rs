//! Teams and team members, with tenant-scoped uniques and composite foreign keys.

use helix_core::migrate::exec_for;
use helix_core::rls::TenantTable;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_tenancy_0003_teams"
    }
}

const SQLITE: &str = r#"
CREATE TABLE tenancy_teams (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (org_id, slug),
    UNIQUE (org_id, id)
);
CREATE TABLE tenancy_team_members (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL,
    team_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (org_id, team_id, user_id),
    FOREIGN KEY (org_id, team_id) REFERENCES tenancy_teams (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES tenancy_memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX tenancy_team_members_org_user ON tenancy_team_members (org_id, user_id);
"#;

const POSTGRES: &str = r#"
CREATE TABLE tenancy_teams (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    name text NOT NULL,
    slug text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (org_id, slug),
    UNIQUE (org_id, id)
);
CREATE TABLE tenancy_team_members (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL,
    team_id uuid NOT NULL,
    user_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (org_id, team_id, user_id),
    FOREIGN KEY (org_id, team_id) REFERENCES tenancy_teams (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES tenancy_memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX tenancy_team_members_org_user ON tenancy_team_members (org_id, user_id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        TenantTable::new("tenancy_teams").apply(manager).await?;
        TenantTable::new("tenancy_team_members")
            .apply(manager)
            .await
    }
}
