//! Tenancy's permissions and the [`Authorizer`] hook every tenancy operation asks.
//!
//! helix-tenancy sits below the authorization crate (helix-iam depends on it, never the
//! other way), so it declares what it needs as data and as a trait: [`PERMISSIONS`] for the
//! catalog, and [`Authorizer`] for the decision. [`RoleAuthorizer`], the default, decides
//! from the member's built-in role and each permission's `default_roles`; helix-iam
//! supplies an implementation backed by its roles, scoped assignments and relationship
//! tuples, installed with [`crate::TenancyService::with_authorizer`].

use async_trait::async_trait;
use helix_core::{Actor, PermissionDef, TenantTx};
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use crate::error::{Result, TenancyError};
use crate::memberships::{Role, model as membership};

/// Reading the organization's profile and settings.
pub const ORGANIZATION_READ: &str = "tenancy.organization.read";
/// Changing the organization's name and settings.
pub const ORGANIZATION_UPDATE: &str = "tenancy.organization.update";
/// Listing and reading members.
pub const MEMBERS_READ: &str = "tenancy.members.read";
/// Adding members, changing their role, removing them.
pub const MEMBERS_MANAGE: &str = "tenancy.members.manage";
/// Listing and reading teams and their members.
pub const TEAMS_READ: &str = "tenancy.teams.read";
/// Creating, renaming and deleting teams and changing their members.
pub const TEAMS_MANAGE: &str = "tenancy.teams.manage";
/// Listing and reading invitations.
pub const INVITATIONS_READ: &str = "tenancy.invitations.read";
/// Creating, resending and revoking invitations.
pub const INVITATIONS_MANAGE: &str = "tenancy.invitations.manage";

const READERS: &[&str] = &["admin", "member", "read_only"];
const ADMINS: &[&str] = &["admin"];

/// The permissions helix-tenancy contributes to the catalog.
pub const PERMISSIONS: &[PermissionDef] = &[
    PermissionDef {
        name: ORGANIZATION_READ,
        description: "Read the organization's profile and settings",
        default_roles: READERS,
    },
    PermissionDef {
        name: ORGANIZATION_UPDATE,
        description: "Change the organization's name and settings",
        default_roles: ADMINS,
    },
    PermissionDef {
        name: MEMBERS_READ,
        description: "List and read members",
        default_roles: READERS,
    },
    PermissionDef {
        name: MEMBERS_MANAGE,
        description: "Add members, change their role, remove them",
        default_roles: ADMINS,
    },
    PermissionDef {
        name: TEAMS_READ,
        description: "List and read teams and their members",
        default_roles: READERS,
    },
    PermissionDef {
        name: TEAMS_MANAGE,
        description: "Create, rename and delete teams; change their members",
        default_roles: ADMINS,
    },
    PermissionDef {
        name: INVITATIONS_READ,
        description: "List and read invitations",
        default_roles: ADMINS,
    },
    PermissionDef {
        name: INVITATIONS_MANAGE,
        description: "Create, resend and revoke invitations",
        default_roles: ADMINS,
    },
];

/// What a tenancy operation acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The organization as a whole (its profile, members, invitations).
    Organization,
    /// One team: team-scoped grants apply as well as organization-wide ones.
    Team(Uuid),
}

/// Decides whether the actor of a tenant transaction may do something.
///
/// Implementations answer [`TenancyError::NotFound`]`("organization")` when the actor has
/// no standing in the organization at all (so its existence does not leak), and
/// [`TenancyError::MissingPermission`] (or [`TenancyError::Forbidden`]) when it does but
/// lacks the permission. They may read through `tx`, which is the operation's own
/// transaction: a decision made after the operation took its locks sees what it will
/// change.
#[async_trait]
pub trait Authorizer: Send + Sync + std::fmt::Debug + 'static {
    /// Lets the actor use `permission` on `target`, or says why not.
    async fn authorize(
        &self,
        tx: &TenantTx,
        permission: &'static str,
        target: Target,
    ) -> Result<()>;

    /// Lets the actor grant, take away or invite with the built-in role `role`.
    ///
    /// Guards against escalation: an actor may only hand out a role whose every
    /// permission it holds itself, so an admin cannot make an owner.
    async fn authorize_role(&self, tx: &TenantTx, role: Role) -> Result<()>;

    /// Lets the actor put someone into `team` (or invite them into it). Where roles are
    /// granted to a team's members, joining hands those roles out, so the same rule holds:
    /// the actor must hold what they carry. The default has no team-granted roles.
    async fn authorize_team_join(&self, _tx: &TenantTx, _team: Uuid) -> Result<()> {
        Ok(())
    }
}

/// Whether the built-in `role` holds `permission` by the catalog defaults: the owner holds
/// every permission; the others hold those whose `default_roles` name them.
pub fn role_has_default(role: Role, permission: &str, catalog: &[PermissionDef]) -> bool {
    role == Role::Owner
        || catalog
            .iter()
            .any(|p| p.name == permission && p.default_roles.contains(&role.as_str()))
}

/// The default [`Authorizer`]: the member's built-in role with the catalog defaults of
/// [`PERMISSIONS`] (owners: everything; admins: manage; members and read-only: read).
///
/// An API key ([`Actor::ApiKey`]) counts as a read-only member: the host's
/// authentication resolved it to this organization and checked its scopes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoleAuthorizer;

impl RoleAuthorizer {
    /// The actor's built-in role in the transaction's organization.
    async fn role_of(tx: &TenantTx) -> Result<Role> {
        if let Actor::ApiKey(_) = tx.context().actor() {
            return Ok(Role::ReadOnly);
        }
        let Some(user_id) = tx.context().actor().user_id() else {
            return Err(TenancyError::NotFound("organization"));
        };
        let member = tx
            .find::<membership::Entity>()
            .filter(membership::Column::UserId.eq(user_id))
            .one(tx.raw())
            .await?;
        member
            .map(|m| m.role)
            .ok_or(TenancyError::NotFound("organization"))
    }
}

#[async_trait]
impl Authorizer for RoleAuthorizer {
    async fn authorize(
        &self,
        tx: &TenantTx,
        permission: &'static str,
        _target: Target,
    ) -> Result<()> {
        let role = Self::role_of(tx).await?;
        if role_has_default(role, permission, PERMISSIONS) {
            Ok(())
        } else {
            Err(TenancyError::MissingPermission(permission))
        }
    }

    async fn authorize_role(&self, tx: &TenantTx, role: Role) -> Result<()> {
        let mine = Self::role_of(tx).await?;
        let covered = PERMISSIONS
            .iter()
            .filter(|p| role_has_default(role, p.name, PERMISSIONS))
            .all(|p| role_has_default(mine, p.name, PERMISSIONS));
        // Ownership is more than a permission set: only owners hand it out.
        if covered && (role != Role::Owner || mine == Role::Owner) {
            Ok(())
        } else {
            Err(TenancyError::Forbidden(
                "you may only grant roles whose permissions you hold yourself",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_catalog() {
        assert!(role_has_default(
            Role::Owner,
            "anything.at.all",
            PERMISSIONS
        ));
        assert!(role_has_default(Role::Admin, MEMBERS_MANAGE, PERMISSIONS));
        assert!(!role_has_default(Role::Member, MEMBERS_MANAGE, PERMISSIONS));
        assert!(role_has_default(Role::ReadOnly, MEMBERS_READ, PERMISSIONS));
        assert!(!role_has_default(
            Role::ReadOnly,
            INVITATIONS_READ,
            PERMISSIONS
        ));
    }

    #[test]
    fn names_are_unique_and_namespaced() {
        let mut names: Vec<_> = PERMISSIONS.iter().map(|p| p.name).collect();
        assert!(names.iter().all(|n| n.starts_with("tenancy.")));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PERMISSIONS.len());
    }
}
