//! Memberships: users of an organization and their roles. An organization always keeps at
//! least one owner.

pub mod model;
mod service;

pub(crate) use service::{find_member, insert_membership};

pub use model::{Model as Membership, Role};
pub(crate) use service::ROLES;
pub use service::{NewMember, member_list_spec};
