//! The transactional outbox: domain events written in the business transaction, delivered
//! after commit by a dispatcher.
//!
//! - [`publish`] / [`publish_platform`] write an event row inside the caller's transaction:
//!   a rolled-back transaction publishes nothing.
//! - The [`Dispatcher`] fans each new event out into one delivery per [`Subscriber`] that
//!   accepts its topic (`helix_outbox_deliveries`), claims due deliveries under a lease
//!   (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several instances can run it), and runs the
//!   handler in a transaction that also inserts the subscriber's idempotency record
//!   (`helix_outbox_processed`): delivery is at least once, database effects happen once.
//!   That transaction is the event's tenant's ([`HandlerTx`]: a `TenantTx`, confined by Row
//!   Level Security on PostgreSQL), or a platform transaction for a platform event; the
//!   delivery is marked delivered afterwards, in a short platform transaction.
//!   A round claims only what it can process within the lease, skips a claimed delivery whose
//!   lease expired before its turn, and counts an attempt when processing starts, not at
//!   claim time. Handlers must be short and database-only (see [`Subscriber`]).
//! - A failed attempt is retried with exponential backoff and jitter, computed from the
//!   kernel's clock; after `max_attempts` (or a [`HandlerError::Permanent`]) the delivery is
//!   a dead letter: [`list_dead_letters`], [`requeue_dead_letter`] (audited).
//! - [`backlog`] and [`dead_letters`] feed `/metrics`.

mod backoff;
mod dead_letter;
mod dispatcher;
pub mod entity;
mod store;
mod subscriber;

pub use backoff::Backoff;
pub use dead_letter::{DeadLetter, backlog, dead_letters, list_dead_letters, requeue_dead_letter};
pub use dispatcher::{Dispatcher, DispatcherBuilder, DispatcherConfig, RunStats};
pub use subscriber::{HandlerError, HandlerTx, OutboxEvent, Subscriber, topic_matches};
/// The shutdown signal [`Dispatcher::run`] takes (re-exported from `tokio-util`).
pub use tokio_util::sync::CancellationToken;

use sea_orm::{DatabaseTransaction, EntityTrait, Set};
use serde::Serialize;
use uuid::Uuid;

use crate::db::{PlatformTx, TenantTx};
use crate::error::{Error, Result};

async fn insert(
    conn: &DatabaseTransaction,
    org_id: Option<Uuid>,
    correlation_id: &str,
    now: chrono::DateTime<chrono::Utc>,
    topic: &str,
    payload: &impl Serialize,
) -> Result<Uuid> {
    if topic.is_empty() || topic.len() > 200 {
        return Err(Error::invalid(
            "topic",
            "invalid",
            "topic must be 1 to 200 characters",
        ));
    }
    let payload = serde_json::to_value(payload).map_err(Error::internal)?;
    let id = Uuid::now_v7();
    let model = entity::ActiveModel {
        id: Set(id),
        org_id: Set(org_id),
        topic: Set(topic.to_owned()),
        payload: Set(payload),
        correlation_id: Set(correlation_id.to_owned()),
        created_at: Set(now),
        fanned_out: Set(false),
    };
    // No `RETURNING`: the application role may only INSERT events, not read them back.
    entity::Entity::insert(model)
        .exec_without_returning(conn)
        .await?;
    Ok(id)
}

/// Writes an event of the transaction's tenant; it is delivered only if `tx` commits.
pub async fn publish(
    tx: &TenantTx,
    now: chrono::DateTime<chrono::Utc>,
    topic: &str,
    payload: &impl Serialize,
) -> Result<Uuid> {
    let cid = tx.context().meta().correlation_id.clone();
    insert(tx.raw(), Some(tx.org_id()), &cid, now, topic, payload).await
}

/// Writes an event from a platform transaction, for `org_id` or for the platform (`None`).
pub async fn publish_platform(
    tx: &PlatformTx,
    correlation_id: &str,
    org_id: Option<Uuid>,
    now: chrono::DateTime<chrono::Utc>,
    topic: &str,
    payload: &impl Serialize,
) -> Result<Uuid> {
    insert(tx.raw(), org_id, correlation_id, now, topic, payload).await
}
