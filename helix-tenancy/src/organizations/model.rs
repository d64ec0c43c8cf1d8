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

/// An organization: one tenant.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "tenancy_organizations")]
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
