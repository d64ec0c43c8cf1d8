//! Audit entry plus outbox event, written together in the business transaction.

use helix_core::audit::{self, AuditEntry};
use helix_core::{TenantTx, outbox};
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
    outbox::publish(tx, now, &format!("tenancy.{action}"), &payload).await?;
    Ok(())
}
