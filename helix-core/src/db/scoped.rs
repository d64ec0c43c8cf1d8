//! Tenant-scoped and platform transactions.
//!
//! A [`TenantTx`] is opened from a [`TenantContext`]: every query it builds is filtered by
//! the context's `org_id`, and every insert takes `org_id` from the context. On PostgreSQL
//! it also switches to the non-owner application role and sets `helix.org_id` for the
//! transaction, so Row Level Security holds even when application code forgets a filter.

use sea_orm::sea_query::IntoCondition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DeleteMany, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, Select, UpdateMany, Value,
};
use sea_orm::{ActiveValue, Condition, Iterable, PrimaryKeyToColumn};
use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
use uuid::Uuid;

use super::{APP_ROLE, Backend, Db, PLATFORM_ROLE};
use crate::context::{Actor, PlatformContext, TenantContext};
use crate::error::{Error, Result};

/// An entity whose rows belong to one organization.
pub trait TenantEntity: EntityTrait {
    /// The column holding the owning organization's id (`org_id`).
    fn org_column() -> Self::Column;
}

/// A transaction bound to one tenant. Dropping it without [`TenantTx::commit`] rolls back.
pub struct TenantTx {
    tx: DatabaseTransaction,
    ctx: TenantContext,
    read_only: bool,
}

impl std::fmt::Debug for TenantTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx")
            .field("org_id", &self.ctx.org_id())
            .finish_non_exhaustive()
    }
}

impl Db {
    /// `BEGIN` (`BEGIN IMMEDIATE` for a SQLite write transaction). On PostgreSQL
    /// `read_only` is the caller's to apply, in its first statement.
    pub(crate) async fn begin_tx(&self, read_only: bool) -> Result<DatabaseTransaction> {
        let options = match (self.backend(), read_only) {
            // A write transaction takes SQLite's write lock up front, so a transaction that
            // reads before it writes cannot fail to upgrade under concurrent writers.
            (Backend::Sqlite, false) => TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            },
            (Backend::Sqlite, true) => TransactionOptions::default(),
            // `READ ONLY` on PostgreSQL is not asked of sea-orm (it would send
            // `SET TRANSACTION READ ONLY` as a round trip of its own): the tenant and platform
            // openers put it in front of their preamble (`read_only_prefix`).
            (Backend::Postgres, _) => TransactionOptions::default(),
        };
        Ok(self.connection().begin_with_options(options).await?)
    }

    /// Opens a transaction scoped to the context's tenant.
    pub async fn tenant(&self, ctx: &TenantContext) -> Result<TenantTx> {
        self.open_tenant(ctx, false).await
    }

    /// Opens a read-only transaction scoped to the context's tenant (`READ ONLY` on
    /// PostgreSQL; a deferred transaction on SQLite, so readers do not queue behind writers).
    pub async fn tenant_read(&self, ctx: &TenantContext) -> Result<TenantTx> {
        self.open_tenant(ctx, true).await
    }

    async fn open_tenant(&self, ctx: &TenantContext, read_only: bool) -> Result<TenantTx> {
        let tx = self.begin_tx(read_only).await?;
        if self.backend() == Backend::Postgres {
            let sql = format!(
                "{}SET LOCAL ROLE {APP_ROLE}; SELECT set_config('helix.org_id', '{}', true), set_config('helix.actor', {}, true)",
                read_only_prefix(read_only),
                ctx.org_id(),
                sql_literal(&ctx.actor().as_ref_string()),
            );
            tx.execute_unprepared(&sql).await?;
        }
        Ok(TenantTx {
            tx,
            ctx: ctx.clone(),
            read_only,
        })
    }

    /// Opens a platform-plane transaction that may cross tenants. Use it only for work that
    /// must (creating organizations, dispatchers, retention), and audit what it does.
    pub async fn platform(&self, ctx: &PlatformContext) -> Result<PlatformTx> {
        self.open_platform(ctx, false).await
    }

    /// Opens a read-only platform transaction (`READ ONLY` on PostgreSQL, deferred on SQLite).
    pub async fn platform_read(&self, ctx: &PlatformContext) -> Result<PlatformTx> {
        self.open_platform(ctx, true).await
    }

    async fn open_platform(&self, ctx: &PlatformContext, read_only: bool) -> Result<PlatformTx> {
        let tx = self.begin_tx(read_only).await?;
        if self.backend() == Backend::Postgres {
            let sql = format!(
                "{}SET LOCAL ROLE {PLATFORM_ROLE}; SELECT set_config('helix.actor', {}, true)",
                read_only_prefix(read_only),
                sql_literal(&ctx.actor().as_ref_string()),
            );
            tx.execute_unprepared(&sql).await?;
        }
        Ok(PlatformTx {
            tx,
            actor: ctx.actor().clone(),
        })
    }
}

impl TenantTx {
    /// The tenant this transaction is bound to.
    pub fn org_id(&self) -> Uuid {
        self.ctx.org_id()
    }

    /// The context the transaction was opened with.
    pub fn context(&self) -> &TenantContext {
        &self.ctx
    }

    /// Whether it was opened with [`Db::tenant_read`] (`READ ONLY` on PostgreSQL; on SQLite a
    /// deferred transaction that nothing stops from writing). A decision made for it must
    /// not be used to guard a write.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The raw transaction. Queries on it are not filtered by the application, but on
    /// PostgreSQL Row Level Security still confines them to this tenant.
    pub fn raw(&self) -> &DatabaseTransaction {
        &self.tx
    }

    /// `SELECT` from `E`, filtered to this tenant.
    pub fn find<E: TenantEntity>(&self) -> Select<E> {
        E::find().filter(E::org_column().eq(self.org_id()))
    }

    /// Finds one row of this tenant by primary key; another tenant's row is `None`.
    pub async fn find_by_id<E, K>(&self, id: K) -> Result<Option<E::Model>>
    where
        E: TenantEntity,
        K: Into<<E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType>,
    {
        Ok(E::find_by_id(id)
            .filter(E::org_column().eq(self.org_id()))
            .one(&self.tx)
            .await?)
    }

    /// Counts this tenant's rows of `E` matching `filter`.
    pub async fn count<E: TenantEntity>(&self, filter: impl IntoCondition) -> Result<u64>
    where
        E::Model: Sync,
    {
        Ok(self.find::<E>().filter(filter).count(&self.tx).await?)
    }

    /// Inserts `model` with `org_id` set from the context (whatever the model held).
    pub async fn insert<A>(&self, model: A) -> Result<<A::Entity as EntityTrait>::Model>
    where
        A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
        A::Entity: TenantEntity,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        let mut model = model;
        model.set(
            <A::Entity as TenantEntity>::org_column(),
            Value::Uuid(Some(self.org_id())),
        );
        Ok(model.insert(&self.tx).await?)
    }

    /// `UPDATE` on `E`, filtered to this tenant. The caller adds the remaining filter.
    pub fn update_many<E: TenantEntity>(&self) -> UpdateMany<E> {
        E::update_many().filter(E::org_column().eq(self.org_id()))
    }

    /// `DELETE` on `E`, filtered to this tenant. The caller adds the remaining filter.
    pub fn delete_many<E: TenantEntity>(&self) -> DeleteMany<E> {
        E::delete_many().filter(E::org_column().eq(self.org_id()))
    }

    /// Updates one row of this tenant, identified by the model's primary key. The `UPDATE`
    /// is filtered by tenant, so a model naming another tenant's row (or carrying another
    /// tenant's `org_id`) is [`Error::NotFound`], never a write to that row; `org_id` itself
    /// cannot be changed.
    pub async fn update<A>(&self, model: A) -> Result<<A::Entity as EntityTrait>::Model>
    where
        A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
        A::Entity: TenantEntity,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        let org_col = <A::Entity as TenantEntity>::org_column();
        let ours = Value::Uuid(Some(self.org_id()));
        let mut cond = Condition::all().add(org_col.eq(self.org_id()));
        for key in <<A::Entity as EntityTrait>::PrimaryKey as Iterable>::iter() {
            let col = key.into_column();
            match model.get(col) {
                ActiveValue::Set(v) | ActiveValue::Unchanged(v) => cond = cond.add(col.eq(v)),
                ActiveValue::NotSet => {
                    return Err(Error::internal_msg(
                        "TenantTx::update needs the primary key",
                    ));
                }
            }
        }
        match model.get(org_col) {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) if v != ours => {
                return Err(Error::NotFound { resource: "record" });
            }
            _ => {}
        }
        if !model.is_changed() {
            return <A::Entity as EntityTrait>::find()
                .filter(cond)
                .one(&self.tx)
                .await?
                .ok_or(Error::NotFound { resource: "record" });
        }
        match <A::Entity as EntityTrait>::update(model)
            .validate()?
            .filter(cond)
            .exec(&self.tx)
            .await
        {
            Ok(m) => Ok(m),
            Err(sea_orm::DbErr::RecordNotUpdated) => Err(Error::NotFound { resource: "record" }),
            Err(e) => Err(e.into()),
        }
    }

    /// Serializes this write transaction against every other transaction of the tenant that
    /// takes the same lock, until it commits or rolls back, and returns whether the
    /// tenant's row exists.
    ///
    /// `table` names a table whose `id` column holds the tenant's id (the organizations
    /// table, in practice: crates that decide on a tenant's committed state, such as "is
    /// another owner left", lock the organization row before reading it). On PostgreSQL this
    /// is `SELECT 1 FROM <table> WHERE id = <org_id> FOR UPDATE`; on SQLite a write
    /// transaction already holds the database's single write lock (`BEGIN IMMEDIATE`), so
    /// the row is only read. Statements after the lock see every transaction that held it
    /// before (PostgreSQL `READ COMMITTED` reads the newest committed state per statement).
    ///
    /// `table` must be a plain identifier (`[a-z_][a-z0-9_]*`); anything else is
    /// [`Error::Config`]. Do not call it on a read transaction (PostgreSQL refuses
    /// `FOR UPDATE` in a `READ ONLY` transaction).
    pub async fn lock_tenant_row(&self, table: &str) -> Result<bool> {
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, Query};
        if !super::call::is_plain_identifier(table) {
            return Err(Error::Config(format!(
                "`{table}` is not a plain table name"
            )));
        }
        let backend = self.tx.get_database_backend();
        let mut query = Query::select();
        query
            .expr(Expr::val(1))
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new("id")).eq(self.org_id()));
        if backend == sea_orm::DbBackend::Postgres {
            query.lock(LockType::Update);
        }
        let row = self.tx.query_one_raw(backend.build(&query)).await?;
        Ok(row.is_some())
    }

    /// Commits.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// A platform-plane transaction (see [`Db::platform`]).
pub struct PlatformTx {
    tx: DatabaseTransaction,
    actor: Actor,
}

impl std::fmt::Debug for PlatformTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformTx")
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl PlatformTx {
    /// The raw transaction (not tenant-filtered).
    pub fn raw(&self) -> &DatabaseTransaction {
        &self.tx
    }

    /// The actor doing platform work.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Commits.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// The start of a PostgreSQL transaction preamble: `SET TRANSACTION READ ONLY` for a read
/// transaction. The preamble is one simple-query batch (access mode, role, settings), so a
/// scoped transaction costs two round trips before its first query (`BEGIN`, the preamble)
/// whether or not it is read-only. `SET TRANSACTION` must come before the first query of the
/// transaction, which the preamble is.
fn read_only_prefix(read_only: bool) -> &'static str {
    if read_only {
        "SET TRANSACTION READ ONLY; "
    } else {
        ""
    }
}

/// Quotes a string as an escape-string literal `E'...'` (backslashes and single quotes
/// escaped, NUL dropped). Its meaning does not depend on `standard_conforming_strings`.
pub(crate) fn sql_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str("E'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn literals_escape_quotes_and_nul() {
        assert_eq!(super::sql_literal("a'b\0c"), "E'a''bc'");
        assert_eq!(super::sql_literal("x\\' OR 1=1"), "E'x\\\\'' OR 1=1'");
    }
}
