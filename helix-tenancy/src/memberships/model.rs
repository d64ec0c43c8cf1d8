//! The `tenancy_memberships` table and membership roles.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A member's role in an organization (until helix-iam takes over authorization).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Full control, including granting and revoking ownership.
    #[sea_orm(string_value = "owner")]
    Owner,
    /// Manages the organization, members, teams and invitations (not owners).
    #[sea_orm(string_value = "admin")]
    Admin,
    /// Reads the organization; writes in business modules.
    #[sea_orm(string_value = "member")]
    Member,
    /// Reads only.
    #[sea_orm(string_value = "read_only")]
    ReadOnly,
}

impl Role {
    /// Whether this role manages members, teams and invitations.
    pub fn can_manage(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// The role's stable name (`owner`, `admin`, `member`, `read_only`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::ReadOnly => "read_only",
        }
    }
}

/// A user's membership in an organization.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "tenancy_memberships")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Membership))]
pub struct Model {
    /// Membership id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The organization.
    pub org_id: Uuid,
    /// The user (an identity of the host's authentication layer).
    pub user_id: Uuid,
    /// The user's email, lowercased.
    pub email: String,
    /// The member's role.
    pub role: Role,
    /// When the membership was created.
    pub created_at: DateTime<Utc>,
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
