//! Composes the migrations of every registered module and runs them in dependency order.
//!
//! Migrations are forward-only. Each one runs in its own transaction (both backends support
//! transactional DDL) and is recorded in `helix_migrations` with the module that owns it.

use sea_orm::sea_query::ExprTrait;
use sea_orm::sea_query::{Alias, ColumnDef, Expr, Query, Table};
use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{MigrationTrait, SchemaManager};

use crate::context::PlatformContext;
use crate::db::Db;
use crate::error::{Error, Result};

/// The table that records applied migrations.
pub const MIGRATIONS_TABLE: &str = "helix_migrations";

/// One module's migrations, in the order they must run.
pub struct ModuleMigrations {
    /// The module name (`helix-core`, `helix-tenancy`).
    pub module: &'static str,
    /// Its migrations; names must be unique across all modules (prefix them with the crate).
    pub migrations: Vec<Box<dyn MigrationTrait>>,
}

impl std::fmt::Debug for ModuleMigrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.migrations.iter().map(|m| m.name()).collect();
        f.debug_struct("ModuleMigrations")
            .field("module", &self.module)
            .field("migrations", &names)
            .finish()
    }
}

async fn ensure_table(db: &Db) -> Result<()> {
    let stmt = Table::create()
        .table(Alias::new(MIGRATIONS_TABLE))
        .if_not_exists()
        .col(
            ColumnDef::new(Alias::new("name"))
                .string()
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new(Alias::new("module")).string().not_null())
        .col(
            ColumnDef::new(Alias::new("applied_at"))
                .timestamp_with_time_zone()
                .not_null(),
        )
        .to_owned();
    let tx = begin_locked(db).await?;
    tx.execute(&stmt).await?;
    tx.commit().await?;
    Ok(())
}

/// An arbitrary constant naming Helix's migration lock ("HELIXMIG").
const MIGRATION_LOCK_KEY: i64 = 0x4845_4c49_584d_4947;

/// A write transaction holding the migration lock: a transaction-scoped advisory lock on
/// PostgreSQL, SQLite's write lock (`BEGIN IMMEDIATE`) on SQLite. Instances starting together
/// take turns instead of applying the same migration twice.
async fn begin_locked(db: &Db) -> Result<sea_orm::DatabaseTransaction> {
    let tx = db.begin_tx(false).await?;
    if db.backend() == crate::db::Backend::Postgres {
        tx.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
        ))
        .await?;
    }
    Ok(tx)
}

async fn is_applied(tx: &sea_orm::DatabaseTransaction, name: &str) -> Result<bool> {
    let stmt = Query::select()
        .expr(Expr::value(1))
        .from(Alias::new(MIGRATIONS_TABLE))
        .and_where(Expr::col(Alias::new("name")).eq(name))
        .to_owned();
    Ok(tx.query_one(&stmt).await?.is_some())
}

async fn applied(db: &Db) -> Result<Vec<String>> {
    let stmt = Query::select()
        .column(Alias::new("name"))
        .from(Alias::new(MIGRATIONS_TABLE))
        .to_owned();
    let rows = db.connection().query_all(&stmt).await?;
    names(rows)
}

fn names(rows: Vec<sea_orm::QueryResult>) -> Result<Vec<String>> {
    rows.iter()
        .map(|r| r.try_get::<String>("", "name").map_err(Error::from))
        .collect()
}

/// Runs every pending migration of `modules`, in order. Returns the names it applied.
pub async fn run(db: &Db, modules: &[ModuleMigrations]) -> Result<Vec<String>> {
    // A current schema needs no DDL rights: a server running as a non-owner role boots.
    if pending(db, modules).await?.is_empty() {
        return Ok(Vec::new());
    }
    ensure_table(db).await?;
    let done = applied(db).await?;
    let mut seen = std::collections::HashSet::new();
    let mut ran = Vec::new();
    for module in modules {
        for m in &module.migrations {
            let name = m.name().to_owned();
            if !seen.insert(name.clone()) {
                return Err(Error::Config(format!(
                    "migration `{name}` is defined twice"
                )));
            }
            if done.contains(&name) {
                continue;
            }
            let tx = begin_locked(db).await?;
            // Another instance may have applied it while we waited for the lock.
            if is_applied(&tx, &name).await? {
                tx.commit().await?;
                continue;
            }
            {
                let manager = SchemaManager::new(&tx);
                m.up(&manager).await.map_err(|e| {
                    Error::Config(format!(
                        "migration `{name}` of {} failed: {e}",
                        module.module
                    ))
                })?;
            }
            let insert = Query::insert()
                .into_table(Alias::new(MIGRATIONS_TABLE))
                .columns([
                    Alias::new("name"),
                    Alias::new("module"),
                    Alias::new("applied_at"),
                ])
                .values_panic([
                    Expr::value(name.clone()),
                    Expr::value(module.module),
                    Expr::value(chrono::Utc::now()),
                ])
                .to_owned();
            tx.execute(&insert).await?;
            tx.commit().await?;
            tracing::info!(migration = %name, module = module.module, "migration applied");
            ran.push(name);
        }
    }
    Ok(ran)
}

/// The migrations of `modules` not yet applied (empty when the schema is current). Reads on
/// the platform path, so a server whose login role owns nothing can answer readiness; a
/// database never migrated has every migration pending.
pub async fn pending(db: &Db, modules: &[ModuleMigrations]) -> Result<Vec<String>> {
    let stmt = Query::select()
        .column(Alias::new("name"))
        .from(Alias::new(MIGRATIONS_TABLE))
        .to_owned();
    // Before the first migration the platform role may not exist yet: all pending.
    let done = match db
        .platform_read(&PlatformContext::system("migrations"))
        .await
    {
        Ok(tx) => {
            let done = match tx.raw().query_all(&stmt).await {
                Ok(rows) => names(rows)?,
                Err(_) => Vec::new(),
            };
            tx.rollback().await?;
            done
        }
        Err(_) => Vec::new(),
    };
    Ok(modules
        .iter()
        .flat_map(|m| m.migrations.iter().map(|x| x.name().to_owned()))
        .filter(|n| !done.contains(n))
        .collect())
}

/// Executes raw SQL in a migration; a shorthand for statements sea-query cannot build.
pub async fn exec(
    manager: &SchemaManager<'_>,
    sql: &str,
) -> std::result::Result<(), sea_orm::DbErr> {
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}

/// Executes one of two raw SQL texts depending on the backend.
pub async fn exec_for(
    manager: &SchemaManager<'_>,
    sqlite: &str,
    postgres: &str,
) -> std::result::Result<(), sea_orm::DbErr> {
    match manager.get_database_backend() {
        DbBackend::Postgres => exec(manager, postgres).await,
        _ => exec(manager, sqlite).await,
    }
}
