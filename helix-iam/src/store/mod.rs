//! Persistence of roles, assignments, tuples and platform roles, and the per-tenant
//! snapshot the engine compiles.
//!
//! Every function takes an open transaction: a [`TenantTx`] for tenant data (its `org_id`
//! scopes every query and stamps every insert; on PostgreSQL Row Level Security holds the
//! same line) or a [`helix_core::PlatformTx`] for platform roles. The caller commits, so
//! the audit entry written here, the change and the caller's own work commit together.
//! Permission checks are the caller's job (the service layer); this layer validates input,
//! keeps tenants apart and reports what the change did to the tenant's policy revision.
//!
//! Revisions are maintained by database triggers (migration `helix_iam_0003_revisions`):
//! every row inserted, updated or deleted in a watched table adds one to the organization's
//! revision, so a write that touches `n` rows advances it by `n`. Each write returns the
//! revision read back inside the same transaction: after commit it is the revision a
//! read-your-writes check must wait for ([`crate::sync::RevisionToken`]).

mod assignments;
pub mod entity;
pub(crate) mod platform;
mod roles;
mod snapshot;
mod subjects;
mod tuples;

use std::collections::BTreeSet;

use helix_core::audit::{self, AuditEntry};
use helix_core::{Kernel, TenantTx};
use sea_orm::QuerySelect;
use serde_json::Value;

pub use assignments::{Assignment, AssignmentFilter, NewAssignment, assignment_list_spec};
pub use platform::{PlatformRole, PlatformRoleGrant, platform_roles_of};
pub use roles::{NewRole, RoleTemplate, builtin_role_id, role_list_spec};
pub use snapshot::MAX_SNAPSHOT_ATTEMPTS;
pub use tuples::{MAX_TUPLE_BATCH, TupleFilter, TupleWrite, TupleWriteOutcome, tuple_list_spec};

use crate::error::{IamError, Result};
use crate::model::Revision;

/// The organizations table (helix-tenancy's), which every IAM table references by
/// `org_id`: management writes lock the organization's row in it
/// ([`helix_core::TenantTx::lock_tenant_row`]), as tenancy does for its own decisions.
pub const ORGANIZATIONS_TABLE: &str = "tenancy_organizations";

/// Longest accepted role name, in characters.
pub const MAX_ROLE_NAME_LEN: usize = 100;
/// Longest accepted permission name, in bytes.
pub const MAX_PERMISSION_LEN: usize = 128;
/// Most permissions one role may hold.
pub const MAX_ROLE_PERMISSIONS: usize = 1000;

/// The IAM data access layer: stateless apart from the kernel's clock and id generator.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct IamStore {
    kernel: Kernel,
}

impl IamStore {
    /// A store using `kernel`'s clock and ids.
    pub fn new(kernel: Kernel) -> Self {
        Self { kernel }
    }

    /// The kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }
}

/// The tenant's current policy revision as this transaction sees it (0 when nothing was
/// ever written).
pub async fn current_revision(tx: &TenantTx) -> Result<Revision> {
    let row: Option<i64> = tx
        .find::<entity::revision::Entity>()
        .select_only()
        .column(entity::revision::Column::Revision)
        .into_tuple()
        .one(tx.raw())
        .await?;
    revision_from(row.unwrap_or(0))
}

pub(crate) fn revision_from(value: i64) -> Result<Revision> {
    u64::try_from(value)
        .map(Revision)
        .map_err(|_| IamError::Corrupt(format!("negative revision {value}")))
}

/// Writes one audit entry for an IAM change in the business transaction.
async fn audit(
    store: &IamStore,
    tx: &TenantTx,
    action: &str,
    entity_type: &str,
    entity_id: impl ToString,
    data: Value,
) -> Result<()> {
    let entry = AuditEntry::new(action, entity_type, entity_id).data(data);
    audit::record(tx, store.kernel.now(), entry).await?;
    Ok(())
}

/// Checks a role display name: 1 to [`MAX_ROLE_NAME_LEN`] characters after trimming, no
/// control characters.
fn role_name(field: &str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(IamError::invalid(field, "required", "must not be empty"));
    }
    if name.chars().count() > MAX_ROLE_NAME_LEN {
        return Err(IamError::invalid(
            field,
            "too_long",
            format!("at most {MAX_ROLE_NAME_LEN} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(IamError::invalid(
            field,
            "invalid",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Checks a permission name's shape (`module.resource.action`: dot-separated
/// `[a-z][a-z0-9_]*` segments, at least two): whether the catalog knows it is the service
/// layer's check.
pub fn valid_permission(p: &str) -> bool {
    p.len() <= MAX_PERMISSION_LEN
        && p.split('.').count() >= 2
        && p.split('.').all(crate::model::valid_name)
}

/// Validates and de-duplicates a permission list (sorted).
fn permission_set(field: &str, permissions: &[String]) -> Result<BTreeSet<String>> {
    if permissions.len() > MAX_ROLE_PERMISSIONS {
        return Err(IamError::invalid(
            field,
            "too_many",
            format!("at most {MAX_ROLE_PERMISSIONS} permissions"),
        ));
    }
    let mut set = BTreeSet::new();
    for (i, p) in permissions.iter().enumerate() {
        if !valid_permission(p) {
            return Err(IamError::invalid(
                &format!("{field}[{i}]"),
                "invalid",
                "a permission is `module.resource.action` in [a-z0-9_]",
            ));
        }
        set.insert(p.clone());
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    #[test]
    fn permission_names_are_checked() {
        for ok in ["tenancy.members.manage", "crm.read", "a_1.b_2.c_3"] {
            assert!(super::valid_permission(ok), "{ok}");
        }
        for bad in [
            "",
            "read",
            "Crm.read",
            "crm..read",
            "crm.read.",
            "crm.re ad",
            ".crm",
        ] {
            assert!(!super::valid_permission(bad), "{bad}");
        }
        assert!(super::role_name("name", " \t").is_err());
        assert!(super::role_name("name", "a\u{7}b").is_err());
        assert_eq!(super::role_name("name", " Billing ").unwrap(), "Billing");
    }
}
