//! Adding, listing, re-roling and removing members.

use helix_core::list::{FieldKind, ListQuery, ListSpec, Page, SortDir};
use helix_core::{PlatformContext, TenantContext, TenantTx};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::model::{self, Role};
use crate::access::{ensure_other_owner, lock_organization};
use crate::authz::{MEMBERS_MANAGE, MEMBERS_READ};
use crate::error::{Result, TenancyError};
use crate::events::emit;
use crate::service::TenancyService;
use crate::teams::model::team_member;
use crate::validate;

/// A member to add directly (without an invitation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewMember {
    /// The user (from the host's authentication layer).
    pub user_id: Uuid,
    /// The user's email; stored lowercased.
    pub email: String,
    /// The role to grant.
    pub role: Role,
}

impl TenancyService {
    /// Adds a member (owners and admins; only owners may add an owner). A user or email
    /// that is already a member is [`TenancyError::AlreadyMember`].
    pub async fn add_member(&self, ctx: &TenantContext, new: NewMember) -> Result<model::Model> {
        let email = validate::email("email", &new.email)?;
        let tx = self.tenant_tx(ctx).await?;
        self.require(&tx, MEMBERS_MANAGE).await?;
        self.require_roles(&tx, &[new.role]).await?;
        let now = self.kernel().now();
        let member = insert_membership(
            &tx,
            self.kernel().new_id(),
            new.user_id,
            email,
            new.role,
            now,
        )
        .await?;
        let data = json!({ "user_id": member.user_id, "email": member.email, "role": member.role });
        emit(&tx, now, "member.added", "membership", member.id, data).await?;
        tx.commit().await?;
        Ok(member)
    }

    /// The organization's members, one page of the standard list query (default: oldest
    /// first); any member may list them. Sort and filter on `email`, `role`, `user_id`
    /// (filter only) and `created_at`; `search` matches the email.
    pub async fn list_members(
        &self,
        ctx: &TenantContext,
        query: &ListQuery,
    ) -> Result<Page<model::Model>> {
        let tx = self.tenant_read_tx(ctx).await?;
        self.require(&tx, MEMBERS_READ).await?;
        let page = member_list_spec()
            .fetch(query, tx.find::<model::Entity>(), tx.raw())
            .await?;
        tx.commit().await?;
        Ok(page)
    }

    /// The organizations `user_id` belongs to, with their role, oldest membership first
    /// (platform path, read-only: it crosses tenants). For the host's authentication glue:
    /// the default organization of a new session and the membership check of an
    /// organization switch.
    pub async fn memberships_of_user(
        &self,
        ctx: &PlatformContext,
        user_id: Uuid,
    ) -> Result<Vec<(Uuid, Role)>> {
        let tx = self.kernel().db().platform_read(ctx).await?;
        let rows = model::Entity::find()
            .filter(model::Column::UserId.eq(user_id))
            .order_by_asc(model::Column::CreatedAt)
            .order_by_asc(model::Column::Id)
            .all(tx.raw())
            .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|m| (m.org_id, m.role)).collect())
    }

    /// One member by user id; any member may read it.
    pub async fn get_member(&self, ctx: &TenantContext, user_id: Uuid) -> Result<model::Model> {
        let tx = self.tenant_read_tx(ctx).await?;
        self.require(&tx, MEMBERS_READ).await?;
        let member = find_member(&tx, user_id).await?;
        tx.commit().await?;
        Ok(member)
    }

    /// Changes a member's role (owners and admins; only owners grant or revoke `owner`).
    /// Demoting the last owner is [`TenancyError::LastOwner`].
    pub async fn change_member_role(
        &self,
        ctx: &TenantContext,
        user_id: Uuid,
        role: Role,
    ) -> Result<model::Model> {
        let tx = self.tenant_tx(ctx).await?;
        // Non-members are turned away before taking the lock; then lock and decide again,
        // so a concurrent demotion of the caller cannot go stale.
        self.require(&tx, MEMBERS_MANAGE).await?;
        lock_organization(&tx).await?;
        self.require(&tx, MEMBERS_MANAGE).await?;
        let member = find_member(&tx, user_id).await?;
        self.require_roles(&tx, &[member.role, role]).await?;
        if member.role == role {
            tx.commit().await?;
            return Ok(member);
        }
        if member.role == Role::Owner {
            ensure_other_owner(&tx, user_id).await?;
        }
        let previous = member.role;
        let mut am = member.into_active_model();
        am.role = Set(role);
        let member = tx.update(am).await?;
        let now = self.kernel().now();
        let data = json!({ "user_id": member.user_id, "role": role, "previous_role": previous });
        emit(
            &tx,
            now,
            "member.role_changed",
            "membership",
            member.id,
            data,
        )
        .await?;
        tx.commit().await?;
        Ok(member)
    }

    /// Removes a member and their team memberships. Owners and admins remove others (only
    /// owners remove an owner); any member may remove themselves. Removing the last owner
    /// is [`TenancyError::LastOwner`].
    pub async fn remove_member(&self, ctx: &TenantContext, user_id: Uuid) -> Result<()> {
        let tx = self.tenant_tx(ctx).await?;
        let leaving = ctx.actor().user_id() == Some(user_id);
        // Any member may leave; removing someone else needs the permission, decided again
        // under the lock, and may not take away a role the caller could not grant.
        if !leaving {
            self.require(&tx, MEMBERS_MANAGE).await?;
        }
        lock_organization(&tx).await?;
        let member = match find_member(&tx, user_id).await {
            Err(TenancyError::NotFound(_)) if leaving => {
                return Err(TenancyError::NotFound("organization"));
            }
            other => other?,
        };
        if !leaving {
            self.require(&tx, MEMBERS_MANAGE).await?;
            self.require_roles(&tx, &[member.role]).await?;
        }
        if member.role == Role::Owner {
            ensure_other_owner(&tx, user_id).await?;
        }
        tx.delete_many::<team_member::Entity>()
            .filter(team_member::Column::UserId.eq(user_id))
            .exec(tx.raw())
            .await?;
        tx.delete_many::<model::Entity>()
            .filter(model::Column::Id.eq(member.id))
            .exec(tx.raw())
            .await?;
        let now = self.kernel().now();
        let data = json!({ "user_id": member.user_id, "role": member.role });
        emit(&tx, now, "member.removed", "membership", member.id, data).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The member `user_id` of the transaction's organization.
pub(crate) async fn find_member(tx: &TenantTx, user_id: Uuid) -> Result<model::Model> {
    tx.find::<model::Entity>()
        .filter(model::Column::UserId.eq(user_id))
        .one(tx.raw())
        .await?
        .ok_or(TenancyError::NotFound("member"))
}

/// Inserts a membership; a duplicate user or email is [`TenancyError::AlreadyMember`].
pub(crate) async fn insert_membership(
    tx: &TenantTx,
    id: Uuid,
    user_id: Uuid,
    email: String,
    role: Role,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<model::Model> {
    let am = model::ActiveModel {
        id: Set(id),
        org_id: Set(tx.org_id()),
        user_id: Set(user_id),
        email: Set(email),
        role: Set(role),
        created_at: Set(now),
    };
    tx.insert(am)
        .await
        .map_err(|e| TenancyError::on_unique(e, TenancyError::AlreadyMember))
}

/// The allow-list of the member list.
pub fn member_list_spec() -> ListSpec<model::Entity> {
    use model::Column as C;
    ListSpec::new()
        .field("email", C::Email, FieldKind::Text)
        .field("role", C::Role, FieldKind::Enum(ROLES))
        .filter_only("user_id", C::UserId, FieldKind::Uuid)
        .field("created_at", C::CreatedAt, FieldKind::Timestamp)
        .search([C::Email])
        .default_sort(C::CreatedAt, SortDir::Asc)
        .tiebreak(C::Id)
}

/// The role names a filter accepts.
pub(crate) const ROLES: &[&str] = &["owner", "admin", "member", "read_only"];
