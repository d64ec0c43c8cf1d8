//! Audit entry plus outbox event, written together in the business transaction.

use helix_core::audit::{self, AuditEntry};
use helix_core::outbox::entity as outbox_event;
use helix_core::{TenantTx, outbox};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Set};
use serde_json::Value;

use crate::error::Result;

/// One tenancy change: audited as `action` on `entity_type`/`entity_id` and published on
/// `tenancy.<action>` with `data` (plus `org_id`) as payload. `data` never holds secrets.
pub(crate) async fn emit(
    tx: &TenantTx,
    now: chrono::DateTime<chrono::Utc>,
    action: &str,
    entity_type: &str,
    entity_id: impl ToString,
    data: Value,
) -> Result<()> {
    let entry = AuditEntry::new(action, entity_type, entity_id).data(data.clone());
    audit::record(tx, now, entry).await?;
    let mut payload = data;
    if let Value::Object(map) = &mut payload {
        map.insert("org_id".into(), Value::String(tx.org_id().to_string()));
    }
    publish(tx, now, &format!("tenancy.{action}"), payload).await
}

/// Writes the outbox event of `tx`'s tenant.
///
/// On PostgreSQL the application role may only `INSERT` into `helix_outbox_events`, but
/// `helix_core::outbox::publish` inserts with `RETURNING`, which also needs `SELECT`; until
/// the kernel inserts without `RETURNING`, the row is written here the same way, without it.
async fn publish(
    tx: &TenantTx,
    now: chrono::DateTime<chrono::Utc>,
    topic: &str,
    payload: Value,
) -> Result<()> {
    if tx.raw().get_database_backend() != DbBackend::Postgres {
        outbox::publish(tx, now, topic, &payload).await?;
        return Ok(());
    }
    let row = outbox_event::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        org_id: Set(Some(tx.org_id())),
        topic: Set(topic.to_owned()),
        payload: Set(payload),
        correlation_id: Set(tx.context().meta().correlation_id.clone()),
        created_at: Set(now),
        fanned_out: Set(false),
    };
    outbox_event::Entity::insert(row)
        .exec_without_returning(tx.raw())
        .await?;
    Ok(())
}
