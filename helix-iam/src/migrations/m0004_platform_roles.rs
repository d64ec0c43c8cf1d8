//! Platform-plane roles (`platform_admin`, `support`): outside every organization, so no
//! `org_id` and no Row Level Security. Tenant transactions may read them (the support
//! role's impersonation right is checked from a tenant request); only the platform role
//! writes them.

use helix_core::migrate::exec_for;
use helix_core::rls::{grant_platform_table, grant_shared_table};
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_iam_0004_platform_roles"
    }
}

const SQLITE: &str = r#"
CREATE TABLE iam_platform_roles (
    user_id BLOB NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('platform_admin', 'support')),
    granted_at TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);
"#;

const POSTGRES: &str = r#"
CREATE TABLE iam_platform_roles (
    user_id uuid NOT NULL,
    role text NOT NULL CHECK (role IN ('platform_admin', 'support')),
    granted_at timestamptz NOT NULL,
    granted_by text NOT NULL,
    PRIMARY KEY (user_id, role)
);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        grant_shared_table(manager, "iam_platform_roles", "SELECT").await?;
        grant_platform_table(manager, "iam_platform_roles", "INSERT, UPDATE, DELETE").await
    }
}
