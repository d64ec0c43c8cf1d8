//! helix-auth's migrations: raw SQL per backend, crate-prefixed names, forward-only.
//!
//! Every auth table is platform-plane (identities exist before and across organizations):
//! no `org_id`, no Row Level Security, and on PostgreSQL only the platform role is granted
//! access, so a tenant-scoped transaction can never read a password hash.

mod m0001_accounts;
mod m0100_sessions;
mod m0200_password_resets;
mod m0300_mfa;
mod m0400_api_keys;
mod m0500_oidc;
mod m0600_one_time_codes;
mod m0610_mfa_challenge_context;
mod m0900_session_revocation_notify;
mod m0910_account_change_notify;
mod m0920_refresh_rotation;

use sea_orm_migration::MigrationTrait;

/// The crate's migrations, in order.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m0001_accounts::Migration),
        Box::new(m0100_sessions::Migration),
        Box::new(m0200_password_resets::Migration),
        Box::new(m0900_session_revocation_notify::Migration),
        Box::new(m0500_oidc::Migration),
        Box::new(m0400_api_keys::Migration),
        Box::new(m0300_mfa::Migration),
        Box::new(m0600_one_time_codes::Migration),
        Box::new(m0610_mfa_challenge_context::Migration),
        Box::new(m0910_account_change_notify::Migration),
        Box::new(m0920_refresh_rotation::Migration),
    ]
}
