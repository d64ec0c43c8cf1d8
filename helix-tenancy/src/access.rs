//! Authorization until helix-iam lands: the actor must be a member; roles decide the rest.
//!
//! A caller who is not a member gets "organization not found" (no existence leak); a member
//! whose role is insufficient gets "forbidden".

use helix_core::TenantTx;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::{Result, TenancyError};
use crate::memberships::{Role, model as membership};
use crate::organizations::model as organization;

/// The acting member.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller {
    /// `None` for an API key.
    pub user_id: Option<Uuid>,
    pub role: Role,
}

impl Caller {
    /// The actor of `tx`, who must be a member of its organization.
    ///
    /// An API key ([`helix_core::Actor::ApiKey`]) is a read-only caller with no user id: the
    /// host's authentication resolved the key to this organization and checked its scopes
    /// before the request got here (until helix-iam brings the permission model), so it may
    /// read and never manage.
    pub(crate) async fn of(tx: &TenantTx) -> Result<Self> {
        if let helix_core::Actor::ApiKey(_) = tx.context().actor() {
            return Ok(Self {
                user_id: None,
                role: Role::ReadOnly,
            });
        }
        let Some(user_id) = tx.context().actor().user_id() else {
            return Err(TenancyError::NotFound("organization"));
        };
        let member = tx
            .find::<membership::Entity>()
            .filter(membership::Column::UserId.eq(user_id))
            .one(tx.raw())
            .await?;
        match member {
            Some(m) => Ok(Self {
                user_id: Some(user_id),
                role: m.role,
            }),
            None => Err(TenancyError::NotFound("organization")),
        }
    }

    /// Owners and admins manage the organization, members, teams and invitations.
    pub(crate) fn require_manager(&self) -> Result<()> {
        if self.role.can_manage() {
            Ok(())
        } else {
            Err(TenancyError::Forbidden(
                "only owners and admins may do this",
            ))
        }
    }

    /// Only owners grant or revoke the owner role.
    pub(crate) fn require_owner_for(&self, roles: &[Role]) -> Result<()> {
        if roles.contains(&Role::Owner) && self.role != Role::Owner {
            return Err(TenancyError::Forbidden(
                "only owners may grant or revoke the owner role",
            ));
        }
        Ok(())
    }
}

/// Serializes changes to the organization's owner set: locks the organization row on
/// PostgreSQL (SQLite serializes writers on its own).
pub(crate) async fn lock_organization(tx: &TenantTx) -> Result<()> {
    let org = organization::Entity::find()
        .filter(organization::Column::Id.eq(tx.org_id()))
        .lock_exclusive()
        .one(tx.raw())
        .await?;
    match org {
        Some(_) => Ok(()),
        None => Err(TenancyError::NotFound("organization")),
    }
}

/// Fails with [`TenancyError::LastOwner`] when `user_id` is the only owner left.
pub(crate) async fn ensure_other_owner(tx: &TenantTx, user_id: Uuid) -> Result<()> {
    let others = tx
        .count::<membership::Entity>(
            membership::Column::Role
                .eq(Role::Owner)
                .and(membership::Column::UserId.ne(user_id)),
        )
        .await?;
    if others == 0 {
        Err(TenancyError::LastOwner)
    } else {
        Ok(())
    }
}
