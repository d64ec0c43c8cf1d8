//! The `helix_outbox_events` table.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;

/// One domain event.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "helix_outbox_events")]
pub struct Model {
    /// Event id (UUID v7, so ids sort by creation).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The tenant that emitted it, or `None` for platform events.
    pub org_id: Option<Uuid>,
    /// Topic (`tenancy.organization.created`).
    pub topic: String,
    /// JSON payload.
    pub payload: Json,
    /// Correlation id of the request that emitted it.
    pub correlation_id: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Whether the dispatcher has created its per-subscriber deliveries.
    pub fanned_out: bool,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
