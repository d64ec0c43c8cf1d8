//! Organizations: the tenants. Created on the platform path with their first owner; read
//! and updated (name, plan, settings) by their members.

pub mod model;
mod service;

pub use model::{Model as Organization, Region, UnknownRegion};
pub use service::{NewOrganization, OrganizationUpdate};
