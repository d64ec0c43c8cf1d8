//! The `helix_audit_log` table.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// One audit row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "helix_audit_log")]
pub struct Model {
    /// Row id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The tenant whose chain holds the row ([`super::PLATFORM_CHAIN`] for platform events).
    pub org_id: Uuid,
    /// Position in the tenant's chain, from 1.
    pub seq: i64,
    /// When it happened (microsecond precision).
    pub occurred_at: DateTime<Utc>,
    /// Who did it (`user:<uuid>`, `system:<name>`).
    pub actor: String,
    /// What was done (`organization.created`).
    pub action: String,
    /// The kind of entity.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: Option<String>,
    /// The request's correlation id.
    pub correlation_id: String,
    /// The client IP, when known.
    pub ip: Option<String>,
    /// The client user agent, when known.
    pub user_agent: Option<String>,
    /// Who acted as `actor` (`user:<uuid>` of a platform-support account impersonating the
    /// user), when the work was done under an impersonation session.
    pub impersonator: Option<String>,
    /// Structured details, redacted; floats rounded to 15 significant digits.
    pub data: Json,
    /// Hash of the previous row in the chain.
    pub prev_hash: String,
    /// Hash of this row.
    pub hash: String,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::db::TenantEntity for Entity {
    fn org_column() -> Column {
        Column::OrgId
    }
}

impl Model {
    /// Recomputes this row's hash from its stored fields.
    pub fn recompute_hash(&self) -> String {
        super::chain::compute_hash(&super::chain::Canonical {
            org_id: self.org_id,
            seq: self.seq,
            occurred_at: &self.occurred_at,
            actor: &self.actor,
            action: &self.action,
            entity_type: &self.entity_type,
            entity_id: self.entity_id.as_deref(),
            correlation_id: &self.correlation_id,
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            impersonator: self.impersonator.as_deref(),
            data: &self.data,
            prev_hash: &self.prev_hash,
        })
    }
}
