//! The audit log: append-only, written in the same transaction as the change it records,
//! hash-chained per tenant so tampering is detectable.
//!
//! Each tenant has its own chain: row `n` stores `hash = sha256(prev_hash ‖ canonical(row))`
//! where `prev_hash` is the hash of row `n - 1` and `canonical(row)` is the row's fields
//! (`action`, `actor`, `correlation_id`, `data`, `entity_id`, `entity_type`, `impersonator`
//! when there is one, `ip`, `occurred_at`, `org_id`, `prev_hash`, `seq`, `user_agent`) as
//! one JSON object in a
//! canonical form this crate encodes itself: members sorted by the UTF-8 bytes of their
//! names at every depth, no whitespace, JSON string escapes, numbers by decimal value
//! (integers exactly, floats at 15 significant digits, `-0.0` as `0`). The hash therefore
//! survives PostgreSQL's `jsonb` (which reorders keys and rewrites `1e16` as
//! `10000000000000000`) and does not depend on serde_json's features. Floats in `data` are
//! stored rounded to 15 significant digits for the same reason. A head row per tenant
//! (`helix_audit_heads`) serializes appends, so the chain has no gaps or forks even with
//! concurrent writers. Platform-plane events with no tenant are chained under
//! [`PLATFORM_CHAIN`] (the nil UUID).
//!
//! - The database refuses `UPDATE` and `DELETE` on the log (triggers on both backends, and
//!   privileges on PostgreSQL); the only deletion is the retention [`purge`], through a
//!   guarded escape described in the `helix_core_0002_audit_log` migration.
//! - An [`Actor::Impersonated`] actor is recorded as the user (`actor`) and the account
//!   acting as them (`impersonator`, `user:<uuid>`; `NULL` otherwise).
//! - [`verify`] / [`verify_platform`] walk a chain in batches from its anchor (the last
//!   row a purge removed, or genesis) and report the first broken link.
//! - [`query`] (typed [`AuditFilter`]) and [`list`] (the standard [`crate::list::ListQuery`])
//!   read a tenant's rows newest first; [`export`] streams them as CSV or JSON Lines.
//! - [`set_retention`] (tenant) and [`set_legal_hold`] (platform) configure retention;
//!   [`purge`] applies it on the platform path, skipping tenants under legal hold.
//!
//! ```no_run
//! use helix_core::audit::{self, AuditEntry};
//! # async fn demo(db: &helix_core::Db, ctx: &helix_core::TenantContext) -> helix_core::Result<()> {
//! let tx = db.tenant(ctx).await?;
//! // ... the business change ...
//! audit::record(&tx, chrono::Utc::now(), AuditEntry::new("invoice.sent", "invoice", 42)).await?;
//! tx.commit().await?;
//! assert!(audit::verify(db, ctx).await?.is_valid());
//! # Ok(()) }
//! ```

mod canonical;
mod chain;
pub mod entity;
mod export;
mod query;
mod retention;
mod verify;

pub use export::{ExportFormat, export};
pub use query::{AuditFilter, list, list_spec, query};
pub use retention::{
    MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, PurgeFailure, PurgeReport, RetentionSettings,
    TenantPurge, purge, retention, set_legal_hold, set_retention,
};
pub use verify::{Anchor, BreakKind, ChainBreak, VerifyReport, verify, verify_platform};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{DatabaseTransaction, EntityTrait};
use serde_json::Value;
use uuid::Uuid;

pub use chain::GENESIS_HASH;

use crate::context::{Actor, RequestMeta};
use crate::db::{PlatformTx, TenantTx};
use crate::error::Result;

/// The chain that records platform-plane events not tied to a tenant.
pub const PLATFORM_CHAIN: Uuid = Uuid::nil();

/// What happened: an action on an entity, with structured data.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Dotted action name (`organization.created`, `member.role_changed`).
    pub action: String,
    /// The kind of entity acted on (`organization`, `membership`).
    pub entity_type: String,
    /// The entity's id, when there is one.
    pub entity_id: Option<String>,
    /// Structured details. Secrets and configured PII are redacted before writing.
    pub data: Value,
}

impl AuditEntry {
    /// An entry for `action` on `entity_type` `entity_id`.
    pub fn new(
        action: impl Into<String>,
        entity_type: impl Into<String>,
        entity_id: impl ToString,
    ) -> Self {
        Self {
            action: action.into(),
            entity_type: entity_type.into(),
            entity_id: Some(entity_id.to_string()),
            data: Value::Object(Default::default()),
        }
    }

    /// Attaches structured details.
    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

/// Appends `entry` to the tenant's chain inside `tx` (the business transaction).
pub async fn record(tx: &TenantTx, now: DateTime<Utc>, entry: AuditEntry) -> Result<()> {
    append_in(tx, now, entry).await.map(|_| ())
}

/// Like [`record`], returning the new row's `seq`.
pub(crate) async fn append_in(tx: &TenantTx, now: DateTime<Utc>, entry: AuditEntry) -> Result<i64> {
    let ctx = tx.context();
    append(tx.raw(), tx.org_id(), ctx.actor(), ctx.meta(), now, entry).await
}

/// Appends `entry` from a platform transaction to the chain of `org_id` (or
/// [`PLATFORM_CHAIN`]).
pub async fn record_platform(
    tx: &PlatformTx,
    meta: &RequestMeta,
    org_id: Uuid,
    now: DateTime<Utc>,
    entry: AuditEntry,
) -> Result<()> {
    append(tx.raw(), org_id, tx.actor(), meta, now, entry).await?;
    Ok(())
}

async fn append(
    conn: &DatabaseTransaction,
    org_id: Uuid,
    actor: &Actor,
    meta: &RequestMeta,
    now: DateTime<Utc>,
    mut entry: AuditEntry,
) -> Result<i64> {
    crate::audit::redact::redact(&mut entry.data);
    canonical::normalize_floats(&mut entry.data);
    let occurred_at = now.trunc_subsecs(6);
    let (seq, prev_hash) = chain::advance_head(conn, org_id).await?;
    let mut row = entity::Model {
        // No id generator reaches this layer (the contexts and `Db` carry none, and the
        // public signatures stay as they are): row ids are UUID v7 directly.
        id: Uuid::now_v7(),
        org_id,
        seq,
        occurred_at,
        actor: actor.as_ref_string(),
        action: entry.action,
        entity_type: entry.entity_type,
        entity_id: entry.entity_id,
        correlation_id: meta.correlation_id.clone(),
        ip: meta.ip.map(|ip| ip.to_string()),
        user_agent: meta.user_agent.clone(),
        impersonator: actor.impersonator_ref_string(),
        data: entry.data,
        prev_hash,
        hash: String::new(),
    };
    row.hash = row.recompute_hash();
    let hash = row.hash.clone();
    let active = sea_orm::ActiveModelTrait::reset_all(entity::ActiveModel::from(row));
    entity::Entity::insert(active)
        .exec_without_returning(conn)
        .await?;
    chain::set_head_hash(conn, org_id, &hash).await?;
    Ok(seq)
}

pub mod redact;
