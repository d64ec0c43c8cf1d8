//! Invariants of the owner set: the organization lock and the last-owner rule.

use helix_core::TenantTx;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::{Result, TenancyError};
use crate::memberships::{Role, model as membership};
use crate::organizations::model as organization;

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
