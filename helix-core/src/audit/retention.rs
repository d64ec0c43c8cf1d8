//! Retention per tenant, legal hold, and the purge that applies them.
//!
//! A tenant with no retention set keeps its audit log forever. The purge removes, per
//! tenant, the longest *prefix* of the chain whose rows are all older than the retention
//! (a row is never removed while an older-numbered row is kept), after verifying that
//! prefix link by link: a purge never launders tampering by deleting it. Each batch runs in
//! one platform transaction that re-checks the legal hold under a row lock (PostgreSQL),
//! opens the purge guard, deletes, closes the guard and moves the tenant's anchor to the
//! last removed row, so [`super::verify`] keeps working afterwards.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::verify::{ANCHORS, Anchor, BreakKind, ChainBreak, ChainCursor, read_anchor, read_batch};
use super::{AuditEntry, PLATFORM_CHAIN, record, record_platform};
use crate::context::{PlatformContext, RequestMeta};
use crate::db::{Db, PlatformTx, TenantTx};
use crate::error::{Error, Result};

/// The shortest retention a tenant can set, in days: a tenant (or a stolen tenant admin
/// session) cannot wipe its own trail by shrinking the retention to a day and waiting for
/// the next purge.
pub const MIN_RETENTION_DAYS: u32 = 30;

/// The longest retention that can be set, in days (100 years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

const RETENTION: &str = "helix_audit_retention";
const GUARD: &str = "helix_audit_purge_guard";
const LOG: &str = "helix_audit_log";
const RUNS: &str = "helix_audit_purge_runs";
/// Rows removed per purge transaction.
const PURGE_BATCH: i64 = 1_000;
/// Tenants read per page while listing retention settings.
const TENANT_PAGE: u64 = 500;

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// A tenant's retention settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionSettings {
    /// Days audit rows are kept; `None` keeps them forever (the default).
    pub retention_days: Option<u32>,
    /// Whether a legal hold suspends purging.
    pub legal_hold: bool,
    /// Why the hold was placed.
    pub legal_hold_reason: Option<String>,
}

async fn read_settings(
    conn: &DatabaseTransaction,
    org_id: Uuid,
    lock: bool,
) -> Result<Option<RetentionSettings>> {
    let mut stmt = Query::select()
        .columns([
            col("retention_days"),
            col("legal_hold"),
            col("legal_hold_reason"),
        ])
        .from(col(RETENTION))
        .and_where(Expr::col(col("org_id")).eq(org_id))
        .to_owned();
    if lock {
        stmt.lock(LockType::Update);
    }
    let Some(row) = conn.query_one(&stmt).await? else {
        return Ok(None);
    };
    let days: Option<i32> = row.try_get("", "retention_days")?;
    Ok(Some(RetentionSettings {
        retention_days: days.and_then(|d| u32::try_from(d).ok()),
        legal_hold: row.try_get("", "legal_hold")?,
        legal_hold_reason: row.try_get("", "legal_hold_reason")?,
    }))
}

/// The tenant's retention settings.
pub async fn retention(tx: &TenantTx) -> Result<RetentionSettings> {
    Ok(read_settings(tx.raw(), tx.org_id(), false)
        .await?
        .unwrap_or_default())
}

/// Sets how long the tenant's audit rows are kept (`None`: forever), in the tenant's
/// transaction; the change is itself audited (`audit.retention_changed`).
///
/// `days` must lie in [`MIN_RETENTION_DAYS`]`..=`[`MAX_RETENTION_DAYS`]; anything else is a
/// validation error on the field `retention_days` (code `out_of_range`).
pub async fn set_retention(tx: &TenantTx, now: DateTime<Utc>, days: Option<u32>) -> Result<()> {
    if let Some(d) = days
        && !(MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&d)
    {
        return Err(Error::invalid(
            "retention_days",
            "out_of_range",
            format!(
                "retention must be {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days, or unset"
            ),
        ));
    }
    let before = retention(tx).await?.retention_days;
    let value = days.map(|d| d as i32);
    let stmt = Query::insert()
        .into_table(col(RETENTION))
        .columns([col("org_id"), col("retention_days"), col("updated_at")])
        .values_panic([
            Expr::value(tx.org_id()),
            Expr::value(value),
            Expr::value(now.trunc_subsecs(6)),
        ])
        .on_conflict(
            OnConflict::column(col("org_id"))
                .update_columns([col("retention_days"), col("updated_at")])
                .to_owned(),
        )
        .to_owned();
    tx.raw().execute(&stmt).await?;
    let entry = AuditEntry::new("audit.retention_changed", "audit_retention", tx.org_id())
        .data(json!({ "from_days": before, "to_days": days }));
    record(tx, now, entry).await
}

/// Places (`hold = true`) or lifts a legal hold on `org_id`'s audit log, on the platform
/// path (a tenant cannot lift a hold placed on it). While held, [`purge`] skips the tenant.
/// The change is audited in the tenant's chain (`audit.legal_hold_placed` / `_lifted`).
pub async fn set_legal_hold(
    tx: &PlatformTx,
    meta: &RequestMeta,
    org_id: Uuid,
    now: DateTime<Utc>,
    hold: bool,
    reason: Option<&str>,
) -> Result<()> {
    let reason = reason.map(str::to_owned);
    let stmt = Query::insert()
        .into_table(col(RETENTION))
        .columns([
            col("org_id"),
            col("legal_hold"),
            col("legal_hold_reason"),
            col("updated_at"),
        ])
        .values_panic([
            Expr::value(org_id),
            Expr::value(hold),
            Expr::value(reason.clone()),
            Expr::value(now.trunc_subsecs(6)),
        ])
        .on_conflict(
            OnConflict::column(col("org_id"))
                .update_columns([
                    col("legal_hold"),
                    col("legal_hold_reason"),
                    col("updated_at"),
                ])
                .to_owned(),
        )
        .to_owned();
    tx.raw().execute(&stmt).await?;
    let action = if hold {
        "audit.legal_hold_placed"
    } else {
        "audit.legal_hold_lifted"
    };
    let entry =
        AuditEntry::new(action, "audit_retention", org_id).data(json!({ "reason": reason }));
    record_platform(tx, meta, org_id, now, entry).await
}

/// What the purge did to one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantPurge {
    /// The tenant.
    pub org_id: Uuid,
    /// Rows removed.
    pub rows_deleted: u64,
    /// Rows older than this were eligible.
    pub cutoff: DateTime<Utc>,
    /// The tenant's anchor after the purge.
    pub anchor: Anchor,
}

/// A tenant the purge refused to touch because the prefix to remove does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeFailure {
    /// The tenant.
    pub org_id: Uuid,
    /// Rows removed in earlier batches before the break was reached.
    pub rows_deleted: u64,
    /// The first broken link in the prefix.
    pub chain_break: ChainBreak,
}

/// The result of one [`purge`] run (also stored in `helix_audit_purge_runs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// The run's id (in the run row and in every audit entry the run wrote).
    pub run_id: Uuid,
    /// When the run started (the `now` it was given).
    pub started_at: DateTime<Utc>,
    /// Rows removed across all tenants.
    pub rows_deleted: u64,
    /// Tenants whose rows were removed.
    pub purged: Vec<TenantPurge>,
    /// Tenants skipped because of a legal hold.
    pub held: Vec<Uuid>,
    /// Tenants whose chain is broken inside the range to purge (left for investigation).
    pub failed: Vec<PurgeFailure>,
}

enum Outcome {
    Purged(TenantPurge),
    Held,
    Failed(PurgeFailure),
    Nothing,
}

/// Removes, for every tenant with a retention set and no legal hold, the audit rows older
/// than its retention at `now`, on the platform path. Records the run in
/// `helix_audit_purge_runs`, an `audit.purged` entry in each purged tenant's chain and an
/// `audit.purge_completed` entry in the [`PLATFORM_CHAIN`].
pub async fn purge(db: &Db, ctx: &PlatformContext, now: DateTime<Utc>) -> Result<PurgeReport> {
    let now = now.trunc_subsecs(6);
    let mut report = PurgeReport {
        // Neither the context nor `Db` carries an id generator, and `purge`'s signature
        // stays as it is: the run id is a UUID v7 made here.
        run_id: Uuid::now_v7(),
        started_at: now,
        rows_deleted: 0,
        purged: Vec::new(),
        held: Vec::new(),
        failed: Vec::new(),
    };
    let mut after: Option<Uuid> = None;
    loop {
        let page = tenants_with_retention(db, ctx, after).await?;
        let Some(last) = page.last() else { break };
        after = Some(*last);
        let full = page.len() as u64 == TENANT_PAGE;
        for org_id in page {
            match purge_tenant(db, ctx, report.run_id, org_id, now).await? {
                Outcome::Purged(p) => {
                    report.rows_deleted += p.rows_deleted;
                    report.purged.push(p);
                }
                Outcome::Held => report.held.push(org_id),
                Outcome::Failed(f) => {
                    report.rows_deleted += f.rows_deleted;
                    report.failed.push(f);
                }
                Outcome::Nothing => {}
            }
        }
        if !full {
            break;
        }
    }
    record_run(db, ctx, &report).await?;
    Ok(report)
}

/// A page of tenants that have a retention row, by id.
async fn tenants_with_retention(
    db: &Db,
    ctx: &PlatformContext,
    after: Option<Uuid>,
) -> Result<Vec<Uuid>> {
    let mut stmt = Query::select()
        .column(col("org_id"))
        .from(col(RETENTION))
        .and_where(Expr::col(col("retention_days")).is_not_null())
        .order_by(col("org_id"), Order::Asc)
        .limit(TENANT_PAGE)
        .to_owned();
    if let Some(after) = after {
        stmt.and_where(Expr::col(col("org_id")).gt(after));
    }
    let tx = db.platform_read(ctx).await?;
    let rows = tx.raw().query_all(&stmt).await?;
    tx.rollback().await?;
    rows.iter()
        .map(|r| r.try_get::<Uuid>("", "org_id").map_err(Error::from))
        .collect()
}

/// The `seq` of one row of `org_id`, first by `order`, among rows at or after `since`.
async fn edge_seq(
    conn: &DatabaseTransaction,
    org_id: Uuid,
    since: Option<DateTime<Utc>>,
    order: Order,
) -> Result<Option<i64>> {
    let mut stmt = Query::select()
        .column(col("seq"))
        .from(col(LOG))
        .and_where(Expr::col(col("org_id")).eq(org_id))
        .order_by(col("seq"), order)
        .limit(1)
        .to_owned();
    if let Some(since) = since {
        stmt.and_where(Expr::col(col("occurred_at")).gte(since));
    }
    match conn.query_one(&stmt).await? {
        Some(row) => Ok(Some(row.try_get("", "seq")?)),
        None => Ok(None),
    }
}

async fn purge_tenant(
    db: &Db,
    ctx: &PlatformContext,
    run_id: Uuid,
    org_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let mut deleted: u64 = 0;
    let mut cutoff = now;
    let mut retention_days = None;
    let mut anchor = None;
    loop {
        let tx = db.platform(ctx).await?;
        let conn = tx.raw();
        // Locks the settings row: a legal hold placed meanwhile waits for this batch, and
        // the next batch sees it. PostgreSQL locks the row with `FOR UPDATE`; on SQLite a
        // platform transaction begins `IMMEDIATE`, holding the database-wide write lock from
        // the start, so it never has to upgrade from reading to writing.
        let settings = read_settings(conn, org_id, true).await?.unwrap_or_default();
        let Some(days) = settings.retention_days else {
            tx.rollback().await?;
            break;
        };
        if settings.legal_hold {
            tx.rollback().await?;
            if deleted == 0 {
                return Ok(Outcome::Held);
            }
            break;
        }
        retention_days = Some(days);
        cutoff = now - Duration::days(i64::from(days));
        let start = read_anchor(conn, org_id).await?;
        // The eligible prefix ends just before the oldest-numbered row still in retention.
        let target = match edge_seq(conn, org_id, Some(cutoff), Order::Asc).await? {
            Some(first_kept) => first_kept - 1,
            None => edge_seq(conn, org_id, None, Order::Desc)
                .await?
                .unwrap_or(0),
        };
        let through = Ord::min(target, start.seq.saturating_add(PURGE_BATCH));
        if through <= start.seq {
            tx.rollback().await?;
            break;
        }
        let rows = read_batch(conn, org_id, start.seq, through, PURGE_BATCH as u64).await?;
        let mut cursor = ChainCursor::from_anchor(&start);
        let mut broken = rows.iter().find_map(|r| cursor.check(r).err());
        if broken.is_none() && cursor.last_seq != through {
            broken = Some(ChainBreak {
                seq: cursor.last_seq + 1,
                row_id: None,
                kind: BreakKind::SeqGap {
                    expected: cursor.last_seq + 1,
                },
            });
        }
        if let Some(chain_break) = broken {
            tx.rollback().await?;
            return Ok(Outcome::Failed(PurgeFailure {
                org_id,
                rows_deleted: deleted,
                chain_break,
            }));
        }
        let new_anchor = Anchor {
            seq: cursor.last_seq,
            hash: cursor.last_hash,
        };
        deleted += delete_prefix(conn, run_id, org_id, &new_anchor, now).await?;
        tx.commit().await?;
        anchor = Some(new_anchor);
    }
    let Some(anchor) = anchor else {
        return Ok(Outcome::Nothing);
    };
    let tx = db.platform(ctx).await?;
    let entry = AuditEntry::new("audit.purged", "audit_log", org_id).data(json!({
        "run_id": run_id,
        "rows_deleted": deleted,
        "retention_days": retention_days,
        "cutoff": cutoff,
        "anchor_seq": anchor.seq,
        "anchor_hash": anchor.hash,
    }));
    record_platform(&tx, ctx.meta(), org_id, now, entry).await?;
    tx.commit().await?;
    Ok(Outcome::Purged(TenantPurge {
        org_id,
        rows_deleted: deleted,
        cutoff,
        anchor,
    }))
}

/// Opens the guard for rows `..= anchor.seq` of `org_id`, deletes them, closes the guard and
/// records the anchor. Returns the rows deleted.
async fn delete_prefix(
    conn: &DatabaseTransaction,
    run_id: Uuid,
    org_id: Uuid,
    anchor: &Anchor,
    now: DateTime<Utc>,
) -> Result<u64> {
    let open = Query::insert()
        .into_table(col(GUARD))
        .columns([col("org_id"), col("through_seq"), col("run_id")])
        .values_panic([
            Expr::value(org_id),
            Expr::value(anchor.seq),
            Expr::value(run_id),
        ])
        .to_owned();
    conn.execute(&open).await?;
    let delete = Query::delete()
        .from_table(col(LOG))
        .and_where(Expr::col(col("org_id")).eq(org_id))
        .and_where(Expr::col(col("seq")).lte(anchor.seq))
        .to_owned();
    let deleted = conn.execute(&delete).await?.rows_affected();
    let close = Query::delete()
        .from_table(col(GUARD))
        .and_where(Expr::col(col("org_id")).eq(org_id))
        .to_owned();
    conn.execute(&close).await?;
    let upsert = Query::insert()
        .into_table(col(ANCHORS))
        .columns([
            col("org_id"),
            col("seq"),
            col("hash"),
            col("run_id"),
            col("anchored_at"),
        ])
        .values_panic([
            Expr::value(org_id),
            Expr::value(anchor.seq),
            Expr::value(anchor.hash.clone()),
            Expr::value(run_id),
            Expr::value(now),
        ])
        .on_conflict(
            OnConflict::column(col("org_id"))
                .update_columns([col("seq"), col("hash"), col("run_id"), col("anchored_at")])
                .to_owned(),
        )
        .to_owned();
    conn.execute(&upsert).await?;
    Ok(deleted)
}

async fn record_run(db: &Db, ctx: &PlatformContext, report: &PurgeReport) -> Result<()> {
    let details = serde_json::to_value(report).map_err(Error::internal)?;
    let tx = db.platform(ctx).await?;
    // Wall-clock end time (the run's logical time is `started_at`).
    let finished_at = Ord::max(Utc::now().trunc_subsecs(6), report.started_at);
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let insert = Query::insert()
        .into_table(col(RUNS))
        .columns([
            col("id"),
            col("actor"),
            col("correlation_id"),
            col("started_at"),
            col("finished_at"),
            col("tenants_purged"),
            col("tenants_held"),
            col("tenants_failed"),
            col("rows_deleted"),
            col("details"),
        ])
        .values_panic([
            Expr::value(report.run_id),
            Expr::value(ctx.actor().as_ref_string()),
            Expr::value(ctx.meta().correlation_id.clone()),
            Expr::value(report.started_at),
            Expr::value(finished_at),
            Expr::value(count(report.purged.len())),
            Expr::value(count(report.held.len())),
            Expr::value(count(report.failed.len())),
            Expr::value(i64::try_from(report.rows_deleted).unwrap_or(i64::MAX)),
            Expr::value(details),
        ])
        .to_owned();
    tx.raw().execute(&insert).await?;
    let entry =
        AuditEntry::new("audit.purge_completed", "audit_purge_run", report.run_id).data(json!({
            "rows_deleted": report.rows_deleted,
            "tenants_purged": report.purged.iter().map(|p| p.org_id).collect::<Vec<_>>(),
            "tenants_held": report.held,
            "tenants_failed": report.failed.iter().map(|f| f.org_id).collect::<Vec<_>>(),
        }));
    record_platform(&tx, ctx.meta(), PLATFORM_CHAIN, report.started_at, entry).await?;
    tx.commit().await
}
