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
//! A role goes only to an account that exists and whose e-mail address is verified. The
//! accounts belong to the identity layer, which helix-iam does not depend on: the host
//! supplies an [`AccountDirectory`] ([`Iam::with_account_directory`]). An unknown account is
//! [`IamError::NotFound`] (404), an unverified one a 409 [`ACCOUNT_NOT_VERIFIED`], and
//! without a directory every grant is refused (fail closed).
//!
//! The first platform administrator is granted outside HTTP, by an operator on the host:
//! the `*_as_operator` methods take a [`PlatformContext`] whose actor is
//! [`Actor::System`] (the reference server's `platform-admin` command uses
//! `system:cli.platform-admin`), skip the "caller is an administrator" check (there may be
//! none yet), and keep everything else: the account check, the audit row, the
//! last-administrator guard. No HTTP principal is ever a system actor, so these paths are
//! reachable only from code running on the host.
use async_trait::async_trait;
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
/// The code of the 409 answered when granting a platform role to an account whose e-mail
/// address is not verified.
pub const ACCOUNT_NOT_VERIFIED: &str = "ACCOUNT_NOT_VERIFIED";
/// The code of the 403 answered when an operator path is called without a system actor.
pub const OPERATOR_ACTOR_REQUIRED: &str = "OPERATOR_ACTOR_REQUIRED";

/// What an [`AccountDirectory`] knows of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryAccount {
    /// The account id.
    pub account_id: Uuid,
    /// Whether its e-mail address is verified.
    pub email_verified: bool,
}

/// The host's answer to "does this account exist?", asked before a platform role is
/// granted. The reference server implements it over helix-auth; a product with its own
/// identity layer implements it over that.
#[async_trait]
pub trait AccountDirectory: std::fmt::Debug + Send + Sync {
    /// The account `account_id`, or `None` when there is no such account.
    async fn account(
        &self,
        account_id: Uuid,
    ) -> std::result::Result<Option<DirectoryAccount>, helix_core::Error>;
}

/// Who may take a platform role path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// A platform administrator acting in person (HTTP).
    Admin,
    /// An operator on the host: any system actor (the command line).
    Operator,
}

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
    /// Opens a platform transaction for `ctx` after checking that its actor may take the
    /// path: a platform administrator acting in person ([`Caller::Admin`]), or a system actor
    /// ([`Caller::Operator`]).
    async fn authorized_tx(
        &self,
        ctx: &PlatformContext,
        write: bool,
        caller: Caller,
    ) -> Result<PlatformTx> {
        let db = self.store().kernel().db();
        if caller == Caller::Operator {
            if !matches!(ctx.actor(), Actor::System(_)) {
                return Err(IamError::Core(helix_core::Error::forbidden(
                    OPERATOR_ACTOR_REQUIRED,
                    "the operator path takes a system actor (the host's command line)",
                )));
            }
            return Ok(if write {
                db.platform(ctx).await?
            } else {
                db.platform_read(ctx).await?
            });
        }
        let user = match ctx.actor() {
            Actor::User(user) => *user,
            Actor::Impersonated { .. } => return Err(IamError::Impersonation),
            _ => return Err(not_admin()),
        };
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
        self.list_platform_roles_by(ctx, query, Caller::Admin).await
    }

    /// [`Iam::list_platform_roles`] for an operator on the host (`ctx`'s actor is a system
    /// actor; no administrator needed).
    pub async fn list_platform_roles_as_operator(
        &self,
        ctx: &PlatformContext,
        query: &ListQuery,
    ) -> Result<Page<PlatformRoleGrant>> {
        self.list_platform_roles_by(ctx, query, Caller::Operator)
            .await
    }

    async fn list_platform_roles_by(
        &self,
        ctx: &PlatformContext,
        query: &ListQuery,
        caller: Caller,
    ) -> Result<Page<PlatformRoleGrant>> {
        let tx = self.authorized_tx(ctx, false, caller).await?;
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

    /// Grants `role` to `user` (audited; idempotent). Platform administrators only. An
    /// account the [`AccountDirectory`] does not know is [`IamError::NotFound`]; one whose
    /// e-mail address is not verified is a 409 [`ACCOUNT_NOT_VERIFIED`].
    pub async fn grant_platform_role(
        &self,
        ctx: &PlatformContext,
        user: Uuid,
        role: PlatformRole,
    ) -> Result<PlatformGrantOutcome> {
        self.grant_platform_role_by(ctx, user, role, Caller::Admin)
            .await
    }

    /// [`Iam::grant_platform_role`] for an operator on the host: `ctx`'s actor is a system
    /// actor (it names the tool in the audit row), and no administrator is needed, so this
    /// is how the first platform administrator is made. The account check and the audit row
    /// are the same.
    pub async fn grant_platform_role_as_operator(
        &self,
        ctx: &PlatformContext,
        user: Uuid,
        role: PlatformRole,
    ) -> Result<PlatformGrantOutcome> {
        self.grant_platform_role_by(ctx, user, role, Caller::Operator)
            .await
    }

    /// Whether `user` may receive a platform role, asked of the host's directory before any
    /// transaction is opened (the directory may read through its own connection).
    async fn grantable(&self, user: Uuid) -> Result<()> {
        let directory = self.account_directory().ok_or_else(|| {
            IamError::Core(helix_core::Error::Config(
                "platform role grants need an account directory \
                 (Iam::with_account_directory); none is configured"
                    .into(),
            ))
        })?;
        match directory.account(user).await? {
            None => Err(IamError::NotFound("account")),
            Some(account) if !account.email_verified => {
                Err(IamError::Core(helix_core::Error::conflict(
                    ACCOUNT_NOT_VERIFIED,
                    "the account's e-mail address is not verified; platform roles go only to \
                     verified accounts",
                )))
            }
            Some(_) => Ok(()),
        }
    }

    async fn grant_platform_role_by(
        &self,
        ctx: &PlatformContext,
        user: Uuid,
        role: PlatformRole,
        caller: Caller,
    ) -> Result<PlatformGrantOutcome> {
        // The account is looked up before the caller's transaction opens (the directory may
        // take a connection of its own, and an in-memory SQLite database has only one), but
        // its answer is used only after the caller is authorized: someone who may not grant
        // gets the caller's refusal and learns nothing about which accounts exist from it.
        // (The lookup itself still runs for every caller; its timing is not hidden.)
        let grantable = self.grantable(user).await;
        let tx = self.authorized_tx(ctx, true, caller).await?;
        grantable?;
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
        self.revoke_platform_role_by(ctx, user, role, Caller::Admin)
            .await
    }

    /// [`Iam::revoke_platform_role`] for an operator on the host (`ctx`'s actor is a system
    /// actor). The last-administrator guard holds here too.
    pub async fn revoke_platform_role_as_operator(
        &self,
        ctx: &PlatformContext,
        user: Uuid,
        role: PlatformRole,
    ) -> Result<()> {
        self.revoke_platform_role_by(ctx, user, role, Caller::Operator)
            .await
    }

    async fn revoke_platform_role_by(
        &self,
        ctx: &PlatformContext,
        user: Uuid,
        role: PlatformRole,
        caller: Caller,
    ) -> Result<()> {
        let tx = self.authorized_tx(ctx, true, caller).await?;
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
