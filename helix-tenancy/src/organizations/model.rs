//! The `tenancy_organizations` table and the data region.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where an organization's data lives. Pinned at creation, never changeable (the database
/// refuses the change too).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// United States.
    #[sea_orm(string_value = "us")]
    Us,
    /// European Union.
    #[sea_orm(string_value = "eu")]
    Eu,
    /// United Kingdom.
    #[sea_orm(string_value = "uk")]
    Uk,
}

impl Region {
    /// Every region.
    pub const ALL: [Region; 3] = [Region::Us, Region::Eu, Region::Uk];

    /// The stored and JSON form (`us`, `eu`, `uk`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Us => "us",
            Self::Eu => "eu",
            Self::Uk => "uk",
        }
    }
}

impl std::str::FromStr for Region {
    type Err = UnknownRegion;

    /// Parses `us`, `eu` or `uk` (case-insensitive, surrounding spaces ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownRegion)
    }
}

/// A region name that is not `us`, `eu` or `uk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown region: expected one of `us`, `eu`, `uk`")]
pub struct UnknownRegion;

/// An organization: one tenant.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "tenancy_organizations")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Organization))]
pub struct Model {
    /// Organization id (UUID v7); the tenant key of every tenant table.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Unique, URL-safe identifier (`[a-z0-9-]`, 3 to 63 characters).
    pub slug: String,
    /// Data region, fixed at creation.
    pub region: Region,
    /// Commercial plan identifier.
    pub plan: String,
    /// Free-form settings (a JSON object).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: Json,
    /// When the organization was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// No relations are declared; joins are written explicitly and tenant-filtered.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl helix_core::TenantEntity for Entity {
    /// The organizations table is keyed by its own id.
    fn org_column() -> Column {
        Column::Id
    }
}
