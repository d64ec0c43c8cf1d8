//! The `tenancy_invitations` table.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::memberships::Role;

/// Where an invitation stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// Waiting to be accepted (it may still have expired: see [`super::Invitation::is_expired`]).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Accepted; the token is dead.
    #[sea_orm(string_value = "accepted")]
    Accepted,
    /// Revoked by an owner or admin; the token is dead.
    #[sea_orm(string_value = "revoked")]
    Revoked,
    /// Superseded after expiry by a newer invitation for the same email.
    #[sea_orm(string_value = "expired")]
    Expired,
}

/// One invitation row. The token itself is never stored, only its SHA-256 hash.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenancy_invitations")]
pub struct Model {
    /// Invitation id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The organization.
    pub org_id: Uuid,
    /// Invited email, lowercased.
    pub email: String,
    /// Role granted on acceptance.
    pub role: Role,
    /// Teams joined on acceptance (a JSON array of ids).
    pub team_ids: Json,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Status.
    pub status: InvitationStatus,
    /// Who sent it.
    pub invited_by: Option<Uuid>,
    /// When the current token stops working.
    pub expires_at: DateTime<Utc>,
    /// Who accepted it.
    pub accepted_by: Option<Uuid>,
    /// When it was accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed (resent, accepted, revoked).
    pub updated_at: DateTime<Utc>,
}

/// No relations are declared; joins are written explicitly and tenant-filtered.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl helix_core::TenantEntity for Entity {
    fn org_column() -> Column {
        Column::OrgId
    }
}
