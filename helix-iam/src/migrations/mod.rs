//! helix-iam's migrations: raw SQL per backend, crate-prefixed names, forward-only.
//!
//! Every IAM table but `iam_platform_roles` is tenant-owned: `org_id NOT NULL`, indexes
//! that start with `org_id`, composite foreign keys `(org_id, role_id)` and, on PostgreSQL,
//! Row Level Security (`ENABLE` + `FORCE`) with the standard tenant policy.

mod m0001_roles;
mod m0002_tuples;
mod m0003_revisions;
mod m0004_platform_roles;

use sea_orm_migration::MigrationTrait;

/// The IAM migrations, in order. They need the tenancy tables (the change triggers watch
/// `tenancy_memberships` and `tenancy_team_members`).
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m0001_roles::Migration),
        Box::new(m0002_tuples::Migration),
        Box::new(m0003_revisions::Migration),
        Box::new(m0004_platform_roles::Migration),
    ]
}
