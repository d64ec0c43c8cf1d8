//! Organizations: the tenants themselves. RLS keys on `id`; the data region is immutable.

use helix_core::migrate::exec_for;
use helix_core::rls::TenantTable;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_tenancy_0001_organizations"
    }
}

const SQLITE: &str = r#"
CREATE TABLE tenancy_organizations (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    region TEXT NOT NULL CHECK (region IN ('us', 'eu', 'uk')),
    plan TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TRIGGER tenancy_organizations_region_immutable
BEFORE UPDATE OF region ON tenancy_organizations
WHEN NEW.region IS NOT OLD.region
BEGIN
    SELECT RAISE(ABORT, 'organization region is immutable');
END;
"#;

const POSTGRES: &str = r#"
CREATE TABLE tenancy_organizations (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    region text NOT NULL CHECK (region IN ('us', 'eu', 'uk')),
    plan text NOT NULL,
    settings jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE FUNCTION tenancy_organizations_region_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
BEGIN
    IF NEW.region IS DISTINCT FROM OLD.region THEN
        RAISE EXCEPTION 'organization region is immutable' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER tenancy_organizations_region_immutable
BEFORE UPDATE ON tenancy_organizations
FOR EACH ROW EXECUTE FUNCTION tenancy_organizations_region_immutable();
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        // Tenants read and update their own organization; only the platform path creates
        // or deletes organizations.
        TenantTable::new("tenancy_organizations")
            .tenant_column("id")
            .app_privileges("SELECT, UPDATE (name, plan, settings, updated_at)")
            .platform_privileges("SELECT, INSERT, UPDATE, DELETE")
            .apply(manager)
            .await?;
        Ok(())
    }
}
