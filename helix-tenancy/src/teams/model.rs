//! The `tenancy_teams` and `tenancy_team_members` tables.

/// Teams of an organization.
pub mod team {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    /// A team: a named group of members, unique by slug within its organization.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "tenancy_teams")]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Team))]
    pub struct Model {
        /// Team id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The organization.
        pub org_id: Uuid,
        /// Display name.
        pub name: String,
        /// Identifier unique within the organization.
        pub slug: String,
        /// When the team was created.
        pub created_at: DateTime<Utc>,
        /// When it was last changed.
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
}

/// Members of teams.
pub mod team_member {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    /// A member of a team (who must be a member of the organization).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "tenancy_team_members")]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TeamMember))]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The organization.
        pub org_id: Uuid,
        /// The team.
        pub team_id: Uuid,
        /// The user.
        pub user_id: Uuid,
        /// When the user joined the team.
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
}
