//! Row Level Security for tenant tables: the migration helper every crate uses.
//!
//! [`TenantTable`] enables and forces RLS on a table, creates the tenant policy
//! (`USING`/`WITH CHECK` on `org_id = nullif(current_setting('helix.org_id', true), '')::uuid`)
//! for the application role, a policy for the platform role, and grants privileges. On
//! SQLite it does nothing: the application-layer filter of [`crate::db::TenantTx`] is the
//! isolation there.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sea_orm_migration::SchemaManager;

use crate::db::{APP_ROLE, PLATFORM_ROLE};

/// Row Level Security set-up for one tenant table.
#[derive(Debug, Clone)]
pub struct TenantTable<'a> {
    table: &'a str,
    column: &'a str,
    app_privileges: &'a str,
    platform_privileges: Option<&'a str>,
}

impl<'a> TenantTable<'a> {
    /// A tenant table whose owner column is `org_id`, with full DML for the app role.
    pub fn new(table: &'a str) -> Self {
        Self {
            table,
            column: "org_id",
            app_privileges: "SELECT, INSERT, UPDATE, DELETE",
            platform_privileges: None,
        }
    }

    /// Uses another column as the tenant key (the `organizations` table keys on `id`).
    pub fn tenant_column(mut self, column: &'a str) -> Self {
        self.column = column;
        self
    }

    /// Restricts what the application role may do (`"SELECT, INSERT"` for append-only tables).
    pub fn app_privileges(mut self, privileges: &'a str) -> Self {
        self.app_privileges = privileges;
        self
    }

    /// Gives the platform role different privileges from the application role (by default
    /// both get the application privileges): e.g. only the platform path creates
    /// organizations.
    pub fn platform_privileges(mut self, privileges: &'a str) -> Self {
        self.platform_privileges = Some(privileges);
        self
    }

    /// Applies the set-up. Idempotent within a fresh migration (policies are created once).
    pub async fn apply(&self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let t = quote_ident(self.table)?;
        let c = quote_ident(self.column)?;
        let sql = format!(
            "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {t} FORCE ROW LEVEL SECURITY;
             CREATE POLICY helix_tenant_isolation ON {t} AS PERMISSIVE FOR ALL TO {APP_ROLE}
               USING ({c} = nullif(current_setting('helix.org_id', true), '')::uuid)
               WITH CHECK ({c} = nullif(current_setting('helix.org_id', true), '')::uuid);
             CREATE POLICY helix_platform_access ON {t} AS PERMISSIVE FOR ALL TO {PLATFORM_ROLE}
               USING (true) WITH CHECK (true);
             GRANT {app} ON {t} TO {APP_ROLE};
             GRANT {platform} ON {t} TO {PLATFORM_ROLE};",
            app = self.app_privileges,
            platform = self.platform_privileges.unwrap_or(self.app_privileges),
        );
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }
}

/// Grants the application and platform roles access to a table that is not tenant-owned
/// (it has no `org_id`): `privileges` such as `"SELECT, INSERT, UPDATE, DELETE"`.
pub async fn grant_shared_table(
    manager: &SchemaManager<'_>,
    table: &str,
    privileges: &str,
) -> Result<(), DbErr> {
    grant(
        manager,
        table,
        privileges,
        &format!("{APP_ROLE}, {PLATFORM_ROLE}"),
    )
    .await
}

/// Grants only the platform role access to a table that is not tenant-owned (queues,
/// idempotency records): tenant transactions cannot read or write it.
pub async fn grant_platform_table(
    manager: &SchemaManager<'_>,
    table: &str,
    privileges: &str,
) -> Result<(), DbErr> {
    grant(manager, table, privileges, PLATFORM_ROLE).await
}

async fn grant(
    manager: &SchemaManager<'_>,
    table: &str,
    privileges: &str,
    roles: &str,
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let t = quote_ident(table)?;
    let sql = format!("GRANT {privileges} ON {t} TO {roles};");
    manager.get_connection().execute_unprepared(&sql).await?;
    Ok(())
}

fn quote_ident(name: &str) -> Result<String, DbErr> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbErr::Migration(format!("invalid identifier `{name}`")));
    }
    Ok(format!("\"{name}\""))
}

/// SQL that creates the application and platform roles when missing and lets the current
/// (migrating) user switch to them. Run by the kernel's first migration on PostgreSQL.
pub(crate) fn create_roles_sql() -> String {
    format!(
        r#"DO $helix$
BEGIN
  BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
      CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    END IF;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{PLATFORM_ROLE}') THEN
      CREATE ROLE {PLATFORM_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    END IF;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
      EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, '{PLATFORM_ROLE}', 'MEMBER') THEN
      EXECUTE format('GRANT {PLATFORM_ROLE} TO %I', current_user);
    END IF;
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO {APP_ROLE}, {PLATFORM_ROLE}', current_schema());
END
$helix$;"#
    )
}
