//! sea-orm entities of the IAM tables. The tenant tables implement
//! [`helix_core::TenantEntity`], so [`helix_core::TenantTx`] filters and stamps them.

/// `iam_roles`: the roles of an organization.
pub mod role {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// One role.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "iam_roles")]
    pub struct Model {
        /// Role id (UUID v7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The organization.
        pub org_id: Uuid,
        /// Stable key, unique in the organization.
        pub key: String,
        /// Display name.
        pub name: String,
        /// Whether this is a built-in role.
        pub builtin: bool,
        /// When it was created.
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

/// `iam_role_permissions`: the catalog permissions a role grants.
pub mod role_permission {
    use sea_orm::entity::prelude::*;

    /// One permission of one role.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "iam_role_permissions")]
    pub struct Model {
        /// The organization.
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        /// The role.
        #[sea_orm(primary_key, auto_increment = false)]
        pub role_id: Uuid,
        /// The permission's catalog name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub permission: String,
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

/// `iam_assignments`: roles granted to subjects at scopes.
pub mod assignment {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// One explicit assignment.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "iam_assignments")]
    pub struct Model {
        /// Assignment id (UUID v7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The organization.
        pub org_id: Uuid,
        /// The subject in text form (`user:<uuid>`, `team:<uuid>#member`).
        pub subject: String,
        /// The role.
        pub role_id: Uuid,
        /// The scope in text form (`tenant`, `team:<uuid>`, `type:id`).
        pub scope: String,
        /// When it was created.
        pub created_at: DateTime<Utc>,
        /// Who created it (`user:<uuid>`, `system:<name>`).
        pub created_by: String,
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

/// `iam_tuples`: relationship tuples.
pub mod tuple {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// One stored tuple. A user subject has `subject_type = "user"` and an empty
    /// `subject_relation`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "iam_tuples")]
    pub struct Model {
        /// The organization.
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        /// Object type.
        #[sea_orm(primary_key, auto_increment = false)]
        pub object_type: String,
        /// Object id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub object_id: String,
        /// Relation.
        #[sea_orm(primary_key, auto_increment = false)]
        pub relation: String,
        /// Subject type (`user`, `team`, ...).
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_type: String,
        /// Subject id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_id: String,
        /// Subject-set relation, empty for a user.
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_relation: String,
        /// When it was written.
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

/// `iam_revisions`: each organization's policy revision (maintained by triggers).
pub mod revision {
    use sea_orm::entity::prelude::*;

    /// One organization's revision.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "iam_revisions")]
    pub struct Model {
        /// The organization.
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        /// Its revision.
        pub revision: i64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl helix_core::TenantEntity for Entity {
        fn org_column() -> Column {
            Column::OrgId
        }
    }
}

/// `iam_changelog`: one row per change, with the revision it produced (written by
/// triggers; read it, never write it).
pub mod changelog {
    use sea_orm::entity::prelude::*;

    /// One change.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "iam_changelog")]
    pub struct Model {
        /// Sequence number (assigned at insert; may commit out of order across tenants).
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The organization.
        pub org_id: Uuid,
        /// The revision this change produced.
        pub revision: i64,
        /// What changed (`role`, `role_permission`, `assignment`, `tuple`, `membership`,
        /// `team_member`).
        pub entity: String,
        /// `insert`, `update` or `delete`.
        pub op: String,
        /// The changed row's key columns as a JSON object.
        pub detail: String,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl helix_core::TenantEntity for Entity {
        fn org_column() -> Column {
            Column::OrgId
        }
    }
}

/// `iam_platform_roles`: platform-plane roles (not tenant-owned).
pub mod platform_role {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// One platform role held by one user.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "iam_platform_roles")]
    pub struct Model {
        /// The user.
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        /// `platform_admin` or `support`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub role: String,
        /// When it was granted.
        pub granted_at: DateTime<Utc>,
        /// Who granted it.
        pub granted_by: String,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
