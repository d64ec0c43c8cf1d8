//! Roles for PostgreSQL Row Level Security.

use sea_orm_migration::prelude::*;

use crate::migrate::exec;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_core_0001_roles"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            exec(manager, &crate::rls::create_roles_sql()).await?;
            // Readiness reads the migration record on the platform path.
            exec(
                manager,
                &format!(
                    "GRANT SELECT ON {} TO {}",
                    crate::migrate::MIGRATIONS_TABLE,
                    crate::db::PLATFORM_ROLE
                ),
            )
            .await?;
        }
        Ok(())
    }
}
