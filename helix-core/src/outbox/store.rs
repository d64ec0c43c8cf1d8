//! The SQL of the dispatcher: fan-out, claim, settle. Every statement on events and
//! deliveries runs in a platform transaction (role `helix_platform` on PostgreSQL); the
//! idempotency record is written and checked in the handler's transaction, which for a
//! tenant event is a tenant transaction (role `helix_app`, RLS-bound to the event's tenant).
//!
//! SQLite note: platform transactions take the write lock up front (`BEGIN IMMEDIATE`), so
//! the fan-out picks its events before opening one, and read-only queries (metrics, dead
//! letters) skip the transaction: SQLite has no roles, and readers should not queue behind
//! the dispatcher's writes.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryResult, Statement, Value,
};
use uuid::Uuid;

use super::entity;
use super::subscriber::{OutboxEvent, Subscriber};
use crate::context::PlatformContext;
use crate::db::{Backend, Db};
use crate::error::{Error, Result};
use crate::kernel::Kernel;

/// Delivery states as stored.
pub(crate) const PENDING: &str = "pending";
pub(crate) const DEAD: &str = "dead";

/// Longest `last_error` kept, in characters.
const MAX_ERROR_CHARS: usize = 500;

pub(crate) fn stmt(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

/// `$first, $first+1, ...` for `n` values (`$n` placeholders work on both backends).
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn truncate_error(message: &str) -> String {
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        Some((i, _)) => format!("{}…", &message[..i]),
        None => message.to_owned(),
    }
}

/// Creates the deliveries of up to `batch` un-fanned events, one per accepting subscriber,
/// and marks the events fanned out. Returns (events fanned out, deliveries created).
pub(crate) async fn fan_out(
    kernel: &Kernel,
    ctx: &PlatformContext,
    subscribers: &[std::sync::Arc<dyn Subscriber>],
    batch: u32,
    now: DateTime<Utc>,
) -> Result<(u64, u64)> {
    let db = kernel.db();
    let backend = db.connection().get_database_backend();
    let select = "SELECT id, topic FROM helix_outbox_events WHERE NOT fanned_out \
                  ORDER BY created_at, id LIMIT $1";
    let (tx, rows) = match db.backend() {
        Backend::Postgres => {
            let tx = db.platform(ctx).await?;
            let sql = format!("{select} FOR UPDATE SKIP LOCKED");
            let rows = tx
                .raw()
                .query_all_raw(stmt(backend, &sql, vec![i64::from(batch).into()]))
                .await?;
            (tx, rows)
        }
        Backend::Sqlite => {
            let rows = db
                .connection()
                .query_all_raw(stmt(backend, select, vec![i64::from(batch).into()]))
                .await?;
            if rows.is_empty() {
                return Ok((0, 0));
            }
            (db.platform(ctx).await?, rows)
        }
    };
    if rows.is_empty() {
        tx.commit().await?;
        return Ok((0, 0));
    }
    let mut created = 0;
    let mut event_ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let event_id: Uuid = row.try_get("", "id")?;
        let topic: String = row.try_get("", "topic")?;
        event_ids.push(event_id);
        for sub in subscribers.iter().filter(|s| s.accepts(&topic)) {
            let res = tx
                .raw()
                .execute_raw(stmt(
                    backend,
                    "INSERT INTO helix_outbox_deliveries \
                     (id, event_id, subscriber, status, attempts, next_attempt_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4) \
                     ON CONFLICT (event_id, subscriber) DO NOTHING",
                    vec![
                        kernel.new_id().into(),
                        event_id.into(),
                        sub.name().to_owned().into(),
                        now.into(),
                    ],
                ))
                .await?;
            created += res.rows_affected();
        }
    }
    let sql = format!(
        "UPDATE helix_outbox_events SET fanned_out = TRUE WHERE NOT fanned_out AND id IN ({})",
        placeholders(1, event_ids.len())
    );
    let values = event_ids.iter().map(|id| Value::from(*id)).collect();
    let fanned = tx
        .raw()
        .execute_raw(stmt(backend, &sql, values))
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok((fanned, created))
}

/// A delivery this dispatcher holds the lease on.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub delivery_id: Uuid,
    pub subscriber: String,
    /// Attempts started so far: as claimed, then including the one [`begin_attempt`] starts.
    pub attempts: u32,
    /// When the lease ends: the delivery must not be started at or after this instant.
    pub lease_until: DateTime<Utc>,
    pub event: Option<OutboxEvent>,
}

/// Claims up to `batch` due deliveries of `subscribers` for `owner` until `lease_until`
/// (their `next_attempt_at` moves to the lease end, so a crashed owner's deliveries become
/// due again when the lease expires), and loads their events.
///
/// Claiming does not count an attempt ([`begin_attempt`] does, when processing starts): a
/// delivery whose lease ran out while it waited its turn is reclaimed without having used
/// up any of its attempts.
pub(crate) async fn claim(
    db: &Db,
    ctx: &PlatformContext,
    subscribers: &[String],
    owner: Uuid,
    batch: u32,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<Claimed>> {
    if subscribers.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.connection().get_database_backend();
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE helix_outbox_deliveries \
         SET locked_until = $1, next_attempt_at = $1, locked_by = $2, updated_at = $3 \
         WHERE id IN (\
           SELECT id FROM helix_outbox_deliveries \
           WHERE status = 'pending' AND next_attempt_at <= $3 AND subscriber IN ({subs}) \
           ORDER BY next_attempt_at, id LIMIT $4{lock}) \
         RETURNING id, event_id, subscriber, attempts",
        subs = placeholders(5, subscribers.len()),
    );
    let mut values: Vec<Value> = vec![
        lease_until.into(),
        owner.into(),
        now.into(),
        i64::from(batch).into(),
    ];
    values.extend(subscribers.iter().map(|s| Value::from(s.clone())));
    let tx = db.platform(ctx).await?;
    let rows = tx.raw().query_all_raw(stmt(backend, &sql, values)).await?;
    let mut claimed = Vec::with_capacity(rows.len());
    let mut event_ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let event_id: Uuid = row.try_get("", "event_id")?;
        let attempts: i32 = row.try_get("", "attempts")?;
        event_ids.push(event_id);
        claimed.push((
            event_id,
            Claimed {
                delivery_id: row.try_get("", "id")?,
                subscriber: row.try_get("", "subscriber")?,
                attempts: u32::try_from(attempts).unwrap_or(0),
                lease_until,
                event: None,
            },
        ));
    }
    let events = load_events(tx.raw(), &event_ids).await?;
    tx.commit().await?;
    Ok(claimed
        .into_iter()
        .map(|(event_id, mut c)| {
            c.event = events
                .iter()
                .find(|e| e.id == event_id)
                .map(|e| OutboxEvent {
                    id: e.id,
                    org_id: e.org_id,
                    topic: e.topic.clone(),
                    payload: e.payload.clone(),
                    correlation_id: e.correlation_id.clone(),
                    created_at: e.created_at,
                    attempt: c.attempts,
                });
            c
        })
        .collect())
}

async fn load_events(tx: &DatabaseTransaction, ids: &[Uuid]) -> Result<Vec<entity::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(entity::Entity::find()
        .filter(entity::Column::Id.is_in(ids.iter().copied()))
        .all(tx)
        .await?)
}

/// Starts an attempt of a delivery `owner` holds an unexpired lease on (at `now`): counts
/// it, in its own transaction so that it stands whether the handler's transaction commits,
/// rolls back or dies with the process. Returns the attempts started so far, this one
/// included, or `None` when the lease was lost or has expired (the delivery is reclaimed).
pub(crate) async fn begin_attempt(
    db: &Db,
    ctx: &PlatformContext,
    delivery_id: Uuid,
    owner: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<u32>> {
    let backend = db.connection().get_database_backend();
    let tx = db.platform(ctx).await?;
    let row = tx
        .raw()
        .query_one_raw(stmt(
            backend,
            "UPDATE helix_outbox_deliveries SET attempts = attempts + 1, updated_at = $1 \
             WHERE id = $2 AND locked_by = $3 AND status = 'pending' AND locked_until > $1 \
             RETURNING attempts",
            vec![now.into(), delivery_id.into(), owner.into()],
        ))
        .await?;
    tx.commit().await?;
    match row {
        Some(row) => {
            let attempts: i32 = row.try_get("", "attempts")?;
            Ok(Some(u32::try_from(attempts).unwrap_or(0)))
        }
        None => Ok(None),
    }
}

/// Inserts the idempotency record of (`subscriber`, `event_id`) in the handler's transaction
/// `tx`, owned by the event's tenant `org_id` (`None` for a platform event); `false` when the
/// subscriber already processed the event. On PostgreSQL a concurrent insert of the same
/// record waits here until the other transaction ends: two handlers of one delivery never
/// both commit.
pub(crate) async fn mark_processed(
    tx: &DatabaseTransaction,
    subscriber: &str,
    org_id: Option<Uuid>,
    event_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let res = tx
        .execute_raw(stmt(
            tx.get_database_backend(),
            "INSERT INTO helix_outbox_processed (subscriber, event_id, org_id, processed_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (subscriber, event_id) DO NOTHING",
            vec![
                subscriber.to_owned().into(),
                event_id.into(),
                org_id.into(),
                now.into(),
            ],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Whether the idempotency record is visible in `tx`: checked just before the handler's
/// transaction commits. It fails when the handler left the transaction unusable (PostgreSQL
/// aborts a transaction on any error, even one the handler swallowed, and its `COMMIT` then
/// silently rolls back), so that a lost commit is not taken for a delivery.
pub(crate) async fn is_processed(
    tx: &DatabaseTransaction,
    subscriber: &str,
    event_id: Uuid,
) -> Result<bool> {
    let row = tx
        .query_one_raw(stmt(
            tx.get_database_backend(),
            "SELECT 1 AS n FROM helix_outbox_processed WHERE subscriber = $1 AND event_id = $2",
            vec![subscriber.to_owned().into(), event_id.into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// Marks a delivery this owner holds as delivered, in its own platform transaction (after
/// the handler's transaction committed); `false` when the lease was lost, in which case the
/// new owner finds the idempotency record and settles it.
pub(crate) async fn mark_delivered(
    db: &Db,
    ctx: &PlatformContext,
    delivery_id: Uuid,
    owner: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let backend = db.connection().get_database_backend();
    let tx = db.platform(ctx).await?;
    let res = tx
        .raw()
        .execute_raw(stmt(
            backend,
            "UPDATE helix_outbox_deliveries \
             SET status = 'delivered', delivered_at = $1, updated_at = $1, locked_until = NULL, locked_by = NULL \
             WHERE id = $2 AND locked_by = $3 AND status = 'pending'",
            vec![now.into(), delivery_id.into(), owner.into()],
        ))
        .await?;
    tx.commit().await?;
    Ok(res.rows_affected() == 1)
}

/// Records a failed attempt: back to `pending` at `retry_at`, or `dead` when `retry_at` is
/// `None`. Returns `false` when the lease was lost (another dispatcher owns it now).
pub(crate) async fn record_failure(
    db: &Db,
    ctx: &PlatformContext,
    delivery_id: Uuid,
    owner: Uuid,
    now: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
    error: &str,
) -> Result<bool> {
    let backend = db.connection().get_database_backend();
    let (status, next) = match retry_at {
        Some(at) => (PENDING, at),
        None => (DEAD, now),
    };
    let tx = db.platform(ctx).await?;
    let res = tx
        .raw()
        .execute_raw(stmt(
            backend,
            "UPDATE helix_outbox_deliveries \
             SET status = $1, next_attempt_at = $2, last_error = $3, updated_at = $4, \
                 locked_until = NULL, locked_by = NULL \
             WHERE id = $5 AND locked_by = $6 AND status = 'pending'",
            vec![
                status.into(),
                next.into(),
                truncate_error(error).into(),
                now.into(),
                delivery_id.into(),
                owner.into(),
            ],
        ))
        .await?;
    tx.commit().await?;
    Ok(res.rows_affected() == 1)
}

/// Runs a read-only query on the platform path: a platform transaction on PostgreSQL (for
/// the role), the bare pool on SQLite (no roles; no write lock).
pub(crate) async fn read_all(
    db: &Db,
    ctx: &PlatformContext,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>> {
    let backend = db.connection().get_database_backend();
    match db.backend() {
        Backend::Postgres => {
            let tx = db.platform(ctx).await?;
            let rows = tx.raw().query_all_raw(stmt(backend, sql, values)).await?;
            tx.commit().await?;
            Ok(rows)
        }
        Backend::Sqlite => Ok(db
            .connection()
            .query_all_raw(stmt(backend, sql, values))
            .await?),
    }
}

/// Runs a `SELECT ... AS n` count on the platform path.
pub(crate) async fn count(db: &Db, sql: &str, values: Vec<Value>) -> Result<u64> {
    let ctx = PlatformContext::system("outbox-metrics");
    let rows = read_all(db, &ctx, sql, values).await?;
    let n: i64 = match rows.first() {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    };
    u64::try_from(n).map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncates_on_char_boundaries() {
        let long = "é".repeat(600);
        let t = super::truncate_error(&long);
        assert_eq!(t.chars().count(), 501);
        assert_eq!(super::truncate_error("short"), "short");
        assert_eq!(super::placeholders(3, 2), "$3, $4");
    }
}
