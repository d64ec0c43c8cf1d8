//! Managing platform-plane roles (`platform_admin`, `support`) through [`Iam`]: the service
//! behind `GET /api/v1/iam/platform/roles` and
//! `PUT`/`DELETE /api/v1/iam/platform/roles/{role}/accounts/{account_id}`.
//!
//! Only a platform administrator acting in person may read or change them: an impersonated
//! caller (support acting as a user) is refused whoever it acts as, and so are API keys and
//! system actors. Every change is audited on the platform chain in the same transaction, and
//! the last platform administrator cannot be removed (the platform would lose the only
//! account able to grant the role again).
//!
//! The first platform administrator is granted outside HTTP (an operator, or the host at
//! startup through [`crate::IamStore::grant_platform_role`]).

use helix_core::list::{FieldKind, ListQuery, ListSpec, Page, SortDir};
use helix_core::{Actor, Backend, PlatformContext, PlatformTx};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::{IamError, Result};
use crate::service::Iam;
use crate::store::entity::platform_role;
use crate::store::platform::decode;
use crate::store::{PlatformRole, PlatformRoleGrant, platform_roles_of};

/// The code of the 403 answered to a caller that is not a platform administrator.
pub const PLATFORM_ADMIN_REQUIRED: &str = "PLATFORM_ADMIN_REQUIRED";
/// The code of the 409 answered when removing the last platform administrator.
pub const LAST_PLATFORM_ADMIN: &str = "LAST_PLATFORM_ADMIN";

const ROLE_NAMES: &[&str] = &["platform_admin", "support"];

fn list_spec() -> ListSpec<platform_role::Entity> {
    ListSpec::new()
        .field(
            "role",
            platform_role::Column::Role,
            FieldKind::Enum(ROLE_NAMES),
        )
        .field("user_id", platform_role::Column::UserId, FieldKind::Uuid)
        .field(
            "granted_at",
            platform_role::Column::GrantedAt,
            FieldKind::Timestamp,
        )
        .default_sort(platform_role::Column::UserId, SortDir::Asc)
        .tiebreak(platform_role::Column::Role)
}

fn not_admin() -> IamError {
    IamError::Core(helix_core::Error::forbidden(
        PLATFORM_ADMIN_REQUIRED,
        "only a platform administrator may manage platform roles",
    ))
}

/// The outcome of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformGrantOutcome {
    /// The grant as stored.
    pub grant: PlatformRoleGrant,
    /// Whether this call granted it (`false`: the account held the role already).
    pub created: bool,
}

impl Iam {
    /// Opens a platform transaction for `ctx` after checking that its actor is a platform
    /// administrator acting in person.
    async fn platform_admin_tx(&self, ctx: &PlatformContext, write: bool) -> Result<PlatformTx> {
        let user = match ctx.actor() {
            Actor::User(user) => *user,
            Actor::Impersonated { .. } => return Err(IamError::Impersonation),
            _ => return Err(not_admin()),
        };
        let db = self.store().kernel().db();
        let tx = if write {
            db.platform(ctx).await?
        } else {
            db.platform_read(ctx).await?
        };
        let admin = if write && db.backend() == Backend::Postgres {
            // A change decides on the administrators' rows locked: two administrators
            // acting at once are serialized, and one whose role was revoked meanwhile is no
            // longer let through (SQLite's write transaction is the single writer already).
            platform_role::Entity::find()
                .filter(platform_role::Column::Role.eq(PlatformRole::PlatformAdmin.as_str()))
                .lock_exclusive()
                .all(tx.raw())
                .await?
                .iter()
                .any(|a| a.user_id == user)
        } else {
            platform_roles_of(tx.raw(), user)
                .await?
                .contains(&PlatformRole::PlatformAdmin)
        };
        if !admin {
            return Err(not_admin());
        }
        Ok(tx)
    }

    /// Whether `user` holds the platform role `role`.
    pub async fn has_platform_role(&self, user: Uuid, role: PlatformRole) -> Result<bool> {
        let ctx = PlatformContext::system("helix-iam.platform-roles");
        let tx = self.store().kernel().db().platform_read(&ctx).await?;
        let roles = platform_roles_of(tx.raw(), user).await?;
        tx.commit().await?;
        Ok(roles.contains(&role))
    }

    /// A page of platform role grants (`filter[role]`, `filter[user_id]`,
    /// `sort=granted_at:desc` ...). Platform administrators only.
    pub async fn list_platform_roles(
        &self,
        ctx: &PlatformContext,
        query: &ListQuery,
    ) -> Result<Page<PlatformRoleGrant>> {
        let tx = self.platform_admin_tx(ctx, false).await?;
        let page = list_spec()
            .fetch(query, platform_role::Entity::find(), tx.raw())
            .await?;
        tx.commit().await?;
        let total = page.meta.total;
        let data = page
            .data
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::new(data, query, total))
    }

    /// Grants `role` to `user` (audited; idempotent). Platform administrators only.
    pub async fn grant_platform_role(
        &self,
        ctx: &PlatformContext,
        user: Uuid,
        role: PlatformRole,
    ) -> Result<PlatformGrantOutcome> {
        let tx = self.platform_admin_tx(ctx, true).await?;
        let created = self
            .store()
            .grant_platform_role(&tx, ctx.meta(), user, role)
            .await?;
        let row = platform_role::Entity::find()
            .filter(platform_role::Column::UserId.eq(user))
            .filter(platform_role::Column::Role.eq(role.as_str()))
            .one(tx.raw())
            .await?
            .ok_or_else(|| IamError::Corrupt("a granted platform role is missing".into()))?;
        tx.commit().await?;
        Ok(PlatformGrantOutcome {
            grant: decode(row)?,
            created,
        })
    }

    /// Revokes `role` from `user` (audited). Platform administrators only; a user that does
    /// not hold the role is [`IamError::NotFound`], and the last platform administrator
    /// cannot be removed (409 `LAST_PLATFORM_ADMIN`).
    pub async fn revoke_platform_role(
        &self,
        ctx: &PlatformContext,
        user: Uuid,
        role: PlatformRole,
    ) -> Result<()> {
        let tx = self.platform_admin_tx(ctx, true).await?;
        if role == PlatformRole::PlatformAdmin {
            // Lock the administrators' rows on PostgreSQL so two administrators removing
            // each other at once cannot both pass the count (SQLite has one writer).
            let mut admins = platform_role::Entity::find()
                .filter(platform_role::Column::Role.eq(PlatformRole::PlatformAdmin.as_str()));
            if self.store().kernel().db().backend() == Backend::Postgres {
                admins = admins.lock_exclusive();
            }
            let admins = admins.all(tx.raw()).await?;
            if admins.iter().all(|a| a.user_id == user) && !admins.is_empty() {
                return Err(IamError::Core(helix_core::Error::conflict(
                    LAST_PLATFORM_ADMIN,
                    "the last platform administrator cannot be removed; grant the role to \
                     another account first",
                )));
            }
        }
        let revoked = self
            .store()
            .revoke_platform_role(&tx, ctx.meta(), user, role)
            .await?;
        if !revoked {
            return Err(IamError::NotFound("platform role grant"));
        }
        tx.commit().await?;
        Ok(())
    }
}
