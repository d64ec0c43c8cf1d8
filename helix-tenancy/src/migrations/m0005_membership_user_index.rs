//! An index on memberships by user, for the platform-path lookup of a user's organizations
//! ([`crate::TenancyService::memberships_of_user`], run at every sign-in). It serves a
//! platform query across tenants, so it does not start with `org_id`.

use helix_core::migrate::exec_for;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_tenancy_0005_membership_user_index"
    }
}

const SQL: &str =
    "CREATE INDEX tenancy_memberships_user ON tenancy_memberships (user_id, created_at);";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQL, SQL).await
    }
}
