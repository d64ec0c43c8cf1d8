//! An index serving the member list's default order (`created_at`, then `id`) within one
//! organization, so the first page reads 25 index entries instead of sorting every member
//! of the organization (found with `helix-bench list` and `EXPLAIN ANALYZE`).

use helix_core::migrate::exec_for;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_tenancy_0006_membership_list_index"
    }
}

const SQL: &str = "CREATE INDEX tenancy_memberships_org_created \
                   ON tenancy_memberships (org_id, created_at, id);";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQL, SQL).await
    }
}
