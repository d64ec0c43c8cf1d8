//! Dead letters (deliveries that exhausted their attempts or failed permanently), and the
//! counts `/metrics` exposes.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Value};
use serde_json::json;
use uuid::Uuid;

use super::store::{self, DEAD, stmt};
use crate::audit::{self, AuditEntry};
use crate::context::PlatformContext;
use crate::db::Db;
use crate::error::{Error, Result};

/// A delivery in the dead-letter state.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The delivery id (what [`requeue_dead_letter`] takes).
    pub delivery_id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// The event's tenant, or `None` for platform events.
    pub org_id: Option<Uuid>,
    /// The event's topic.
    pub topic: String,
    /// The subscriber that failed.
    pub subscriber: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last failure's message (truncated).
    pub last_error: Option<String>,
    /// When it became dead.
    pub failed_at: DateTime<Utc>,
}

/// Lists dead letters, most recent first, optionally for one subscriber (at most `limit`,
/// capped at 1,000). Platform-plane: dead letters of every tenant.
pub async fn list_dead_letters(
    db: &Db,
    ctx: &PlatformContext,
    subscriber: Option<&str>,
    limit: u64,
) -> Result<Vec<DeadLetter>> {
    let limit = i64::try_from(limit.min(1_000)).unwrap_or(1_000);
    let mut values: Vec<Value> = vec![DEAD.into(), limit.into()];
    let filter = match subscriber {
        Some(name) => {
            values.push(name.to_owned().into());
            " AND d.subscriber = $3"
        }
        None => "",
    };
    let sql = format!(
        "SELECT d.id, d.event_id, d.subscriber, d.attempts, d.last_error, d.updated_at, \
                e.org_id, e.topic \
         FROM helix_outbox_deliveries d JOIN helix_outbox_events e ON e.id = d.event_id \
         WHERE d.status = $1{filter} ORDER BY d.updated_at DESC, d.id LIMIT $2"
    );
    let rows = store::read_all(db, ctx, &sql, values).await?;
    rows.iter()
        .map(|r| {
            let attempts: i32 = r.try_get("", "attempts")?;
            Ok(DeadLetter {
                delivery_id: r.try_get("", "id")?,
                event_id: r.try_get("", "event_id")?,
                org_id: r.try_get("", "org_id")?,
                topic: r.try_get("", "topic")?,
                subscriber: r.try_get("", "subscriber")?,
                attempts: u32::try_from(attempts).unwrap_or(0),
                last_error: r.try_get("", "last_error")?,
                failed_at: r.try_get("", "updated_at")?,
            })
        })
        .collect()
}

/// Puts a dead letter back in the queue, due at `now`, with its attempt count reset.
/// A delivery that is not dead (or does not exist) is [`Error::NotFound`].
///
/// Platform-plane: audited (`outbox.dead_letter_requeued`) in the same transaction, in the
/// chain of the event's tenant, or in [`audit::PLATFORM_CHAIN`] for a platform event.
pub async fn requeue_dead_letter(
    db: &Db,
    ctx: &PlatformContext,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let backend = db.connection().get_database_backend();
    let tx = db.platform(ctx).await?;
    let row = tx
        .raw()
        .query_one_raw(stmt(
            backend,
            "UPDATE helix_outbox_deliveries \
             SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1, \
                 locked_until = NULL, locked_by = NULL \
             WHERE id = $2 AND status = 'dead' \
             RETURNING event_id, subscriber",
            vec![now.into(), delivery_id.into()],
        ))
        .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Err(Error::not_found("dead letter"));
    };
    let event_id: Uuid = row.try_get("", "event_id")?;
    let subscriber: String = row.try_get("", "subscriber")?;
    // The event may be missing (a dead letter of "event not found"): then no tenant.
    let org_id: Option<Uuid> = match tx
        .raw()
        .query_one_raw(stmt(
            backend,
            "SELECT org_id FROM helix_outbox_events WHERE id = $1",
            vec![event_id.into()],
        ))
        .await?
    {
        Some(r) => r.try_get("", "org_id")?,
        None => None,
    };
    audit::record_platform(
        &tx,
        ctx.meta(),
        org_id.unwrap_or(audit::PLATFORM_CHAIN),
        now,
        AuditEntry::new(
            "outbox.dead_letter_requeued",
            "outbox_delivery",
            delivery_id,
        )
        .data(json!({ "subscriber": subscriber, "event_id": event_id.to_string() })),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        outbox.delivery_id = %delivery_id,
        outbox.subscriber = %subscriber,
        actor = %ctx.actor().as_ref_string(),
        "outbox dead letter requeued"
    );
    Ok(())
}

/// Undelivered work: events not yet fanned out plus pending deliveries (for `/metrics`).
pub async fn backlog(db: &Db) -> Result<u64> {
    store::count(
        db,
        "SELECT (SELECT COUNT(*) FROM helix_outbox_events WHERE NOT fanned_out) \
              + (SELECT COUNT(*) FROM helix_outbox_deliveries WHERE status = 'pending') AS n",
        vec![],
    )
    .await
}

/// Deliveries in the dead-letter state (for `/metrics`).
pub async fn dead_letters(db: &Db) -> Result<u64> {
    store::count(
        db,
        "SELECT COUNT(*) AS n FROM helix_outbox_deliveries WHERE status = $1",
        vec![DEAD.into()],
    )
    .await
}
