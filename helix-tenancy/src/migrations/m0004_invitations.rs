//! Invitations: only a SHA-256 hash of the token is stored; at most one pending invitation
//! per email and organization.

use helix_core::migrate::exec_for;
use helix_core::rls::TenantTable;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_tenancy_0004_invitations"
    }
}

const SQLITE: &str = r#"
CREATE TABLE tenancy_invitations (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'read_only')),
    team_ids TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'revoked', 'expired')),
    invited_by BLOB,
    expires_at TEXT NOT NULL,
    accepted_by BLOB,
    accepted_at TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX tenancy_invitations_one_pending ON tenancy_invitations (org_id, email) WHERE status = 'pending';
CREATE INDEX tenancy_invitations_org_status ON tenancy_invitations (org_id, status, created_at);
"#;

const POSTGRES: &str = r#"
CREATE TABLE tenancy_invitations (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES tenancy_organizations (id) ON DELETE CASCADE,
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'read_only')),
    team_ids jsonb NOT NULL,
    token_hash text NOT NULL UNIQUE,
    status text NOT NULL CHECK (status IN ('pending', 'accepted', 'revoked', 'expired')),
    invited_by uuid,
    expires_at timestamptz NOT NULL,
    accepted_by uuid,
    accepted_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX tenancy_invitations_one_pending ON tenancy_invitations (org_id, email) WHERE status = 'pending';
CREATE INDEX tenancy_invitations_org_status ON tenancy_invitations (org_id, status, created_at);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        TenantTable::new("tenancy_invitations").apply(manager).await
    }
}
