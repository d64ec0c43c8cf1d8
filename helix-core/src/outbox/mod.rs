//! The transactional outbox: domain events written in the business transaction, delivered
//! after commit by a dispatcher.

pub mod entity;

use sea_orm::{ActiveModelTrait, DatabaseTransaction, Set};
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
        return Err(Error::invalid("topic", "invalid", "topic must be 1 to 200 characters"));
    }
    let payload = serde_json::to_value(payload).map_err(Error::internal)?;
    let id = Uuid::now_v7();
    entity::ActiveModel {
        id: Set(id),
        org_id: Set(org_id),
        topic: Set(topic.to_owned()),
        payload: Set(payload),
        correlation_id: Set(correlation_id.to_owned()),
        created_at: Set(now),
        fanned_out: Set(false),
    }
    .insert(conn)
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
