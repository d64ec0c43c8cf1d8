//! # helix-tenancy
//!
//! Organizations, memberships, teams and invitations, and the tenant-scoped data access every
//! Helix crate uses.
#![warn(missing_docs)]

pub use helix_core::db::{TenantEntity, TenantTx};
pub use helix_core::rls::TenantTable;
