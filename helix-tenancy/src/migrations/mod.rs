//! The crate's migrations: raw SQL per backend, crate-prefixed names, forward-only.

mod m0001_organizations;
mod m0002_memberships;
mod m0003_teams;
mod m0004_invitations;
mod m0005_membership_user_index;
mod m0006_membership_list_index;

use sea_orm_migration::MigrationTrait;

/// The tenancy migrations, in order.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m0001_organizations::Migration),
        Box::new(m0002_memberships::Migration),
        Box::new(m0003_teams::Migration),
        Box::new(m0004_invitations::Migration),
        Box::new(m0005_membership_user_index::Migration),
        Box::new(m0006_membership_list_index::Migration),
    ]
}
