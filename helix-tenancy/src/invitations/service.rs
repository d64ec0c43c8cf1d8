//! Inviting, resending, revoking and accepting.

use helix_core::list::{FieldKind, ListQuery, ListSpec, Page, SortDir};
use helix_core::{PlatformContext, TenantContext, TenantTx};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Set};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::model::{self, InvitationStatus};
use super::{Invitation, InvitationIssue, InvitationToken, IssuedInvitation};
use crate::authz::{INVITATIONS_MANAGE, INVITATIONS_READ};
use crate::error::{Result, TenancyError};
use crate::events::emit;
use crate::memberships::{Membership, Role, insert_membership, model as membership};
use crate::service::TenancyService;
use crate::teams::{find_team, insert_team_member, model::team};
use crate::validate;

/// An invitation to send.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewInvitation {
    /// The invitee's email (compared case-insensitively on acceptance).
    pub email: String,
    /// The role granted on acceptance.
    pub role: Role,
    /// Teams of the organization joined on acceptance.
    #[serde(default)]
    pub team_ids: Vec<Uuid>,
}

impl TenancyService {
    /// Creates an invitation and returns it with its token, once (owners and admins; only
    /// owners invite owners). An email that is already a member, or that already has a
    /// pending invitation, is a conflict.
    pub async fn create_invitation(
        &self,
        ctx: &TenantContext,
        new: NewInvitation,
    ) -> Result<IssuedInvitation> {
        let email = validate::email("email", &new.email)?;
        let tx = self.tenant_tx(ctx).await?;
        self.require(&tx, INVITATIONS_MANAGE).await?;
        self.require_roles(&tx, &[new.role]).await?;
        let already = tx
            .count::<membership::Entity>(membership::Column::Email.eq(email.as_str()))
            .await?;
        if already > 0 {
            return Err(TenancyError::AlreadyMember);
        }
        let mut team_ids = Vec::with_capacity(new.team_ids.len());
        for id in new.team_ids {
            if !team_ids.contains(&id) {
                self.require_on_team(&tx, crate::authz::TEAMS_MANAGE, id)
                    .await?;
                find_team(&tx, id).await?;
                self.authorizer().authorize_team_join(&tx, id).await?;
                team_ids.push(id);
            }
        }
        let now = self.kernel().now();
        // A pending invitation that has expired no longer blocks a new one.
        // Times are compared in Rust: SQLite stores them as text.
        let pending = tx
            .find::<model::Entity>()
            .filter(model::Column::Email.eq(email.as_str()))
            .filter(model::Column::Status.eq(InvitationStatus::Pending))
            .all(tx.raw())
            .await?;
        for stale in pending.into_iter().filter(|p| now >= p.expires_at) {
            let mut am = stale.into_active_model();
            am.status = Set(InvitationStatus::Expired);
            am.updated_at = Set(now);
            tx.update(am).await?;
        }
        let token = InvitationToken::generate();
        let am = model::ActiveModel {
            id: Set(self.kernel().new_id()),
            org_id: Set(tx.org_id()),
            email: Set(email),
            role: Set(new.role),
            team_ids: Set(json!(team_ids)),
            token_hash: Set(token.hash()),
            status: Set(InvitationStatus::Pending),
            invited_by: Set(ctx.actor().user_id()),
            expires_at: Set(now + self.invitation_ttl()),
            accepted_by: Set(None),
            accepted_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let row = tx
            .insert(am)
            .await
            .map_err(|e| TenancyError::on_unique(e, TenancyError::InvitationPending))?;
        let data = json!({
            "invitation_id": row.id,
            "email": row.email,
            "role": row.role,
            "team_ids": row.team_ids,
            "expires_at": row.expires_at,
        });
        emit(&tx, now, "invitation.created", "invitation", row.id, data).await?;
        let invitation = Invitation::from(row);
        self.notifier()
            .issued(&tx, &invitation, &token, InvitationIssue::Created, now)
            .await?;
        tx.commit().await?;
        Ok(IssuedInvitation { invitation, token })
    }

    /// The organization's invitations, one page of the standard list query (default:
    /// newest first; owners and admins). Sort and filter on `email`, `role`, `status`,
    /// `created_at`, `expires_at`; `search` matches the email.
    pub async fn list_invitations(
        &self,
        ctx: &TenantContext,
        query: &ListQuery,
    ) -> Result<Page<Invitation>> {
        let tx = self.tenant_read_tx(ctx).await?;
        self.require(&tx, INVITATIONS_READ).await?;
        use model::Column as C;
        let spec = ListSpec::<model::Entity>::new()
            .field("email", C::Email, FieldKind::Text)
            .field("role", C::Role, FieldKind::Enum(crate::memberships::ROLES))
            .field(
                "status",
                C::Status,
                FieldKind::Enum(&["pending", "accepted", "revoked", "expired"]),
            )
            .field("created_at", C::CreatedAt, FieldKind::Timestamp)
            .field("expires_at", C::ExpiresAt, FieldKind::Timestamp)
            .search([C::Email])
            .default_sort(C::CreatedAt, SortDir::Desc)
            .tiebreak(C::Id);
        let page = spec
            .fetch(query, tx.find::<model::Entity>(), tx.raw())
            .await?;
        tx.commit().await?;
        Ok(page.map(Invitation::from))
    }

    /// One invitation (owners and admins).
    pub async fn get_invitation(&self, ctx: &TenantContext, id: Uuid) -> Result<Invitation> {
        let tx = self.tenant_read_tx(ctx).await?;
        self.require(&tx, INVITATIONS_READ).await?;
        let row = find_invitation(&tx, id).await?;
        tx.commit().await?;
        Ok(row.into())
    }

    /// Revokes a pending invitation; its token stops working (owners and admins).
    pub async fn revoke_invitation(&self, ctx: &TenantContext, id: Uuid) -> Result<Invitation> {
        let tx = self.tenant_tx(ctx).await?;
        self.require(&tx, INVITATIONS_MANAGE).await?;
        let row = lock_invitation(&tx, id).await?;
        self.require_roles(&tx, &[row.role]).await?;
        match row.status {
            InvitationStatus::Accepted => return Err(TenancyError::InvitationUsed),
            InvitationStatus::Revoked => return Err(TenancyError::InvitationRevoked),
            InvitationStatus::Pending | InvitationStatus::Expired => {}
        }
        let now = self.kernel().now();
        let mut am = row.into_active_model();
        am.status = Set(InvitationStatus::Revoked);
        am.revoked_at = Set(Some(now));
        am.updated_at = Set(now);
        let row = tx.update(am).await?;
        let data = json!({ "invitation_id": row.id, "email": row.email });
        emit(&tx, now, "invitation.revoked", "invitation", row.id, data).await?;
        tx.commit().await?;
        Ok(row.into())
    }

    /// Issues a new token with a new expiry; the old token stops working (owners and
    /// admins). Accepted and revoked invitations cannot be resent.
    pub async fn resend_invitation(
        &self,
        ctx: &TenantContext,
        id: Uuid,
    ) -> Result<IssuedInvitation> {
        let tx = self.tenant_tx(ctx).await?;
        self.require(&tx, INVITATIONS_MANAGE).await?;
        let row = lock_invitation(&tx, id).await?;
        self.require_roles(&tx, &[row.role]).await?;
        match row.status {
            InvitationStatus::Accepted => return Err(TenancyError::InvitationUsed),
            InvitationStatus::Revoked => return Err(TenancyError::InvitationRevoked),
            InvitationStatus::Pending | InvitationStatus::Expired => {}
        }
        let now = self.kernel().now();
        let token = InvitationToken::generate();
        let mut am = row.into_active_model();
        am.token_hash = Set(token.hash());
        am.status = Set(InvitationStatus::Pending);
        am.expires_at = Set(now + self.invitation_ttl());
        am.updated_at = Set(now);
        let row = tx
            .update(am)
            .await
            .map_err(|e| TenancyError::on_unique(e, TenancyError::InvitationPending))?;
        let data =
            json!({ "invitation_id": row.id, "email": row.email, "expires_at": row.expires_at });
        emit(&tx, now, "invitation.resent", "invitation", row.id, data).await?;
        let invitation = Invitation::from(row);
        self.notifier()
            .issued(&tx, &invitation, &token, InvitationIssue::Resent, now)
            .await?;
        tx.commit().await?;
        Ok(IssuedInvitation { invitation, token })
    }

    /// Accepts an invitation by token for the signed-in user of `ctx` whose (verified)
    /// email is `user_email`: creates the membership and team memberships, and kills the
    /// token.
    ///
    /// The token is looked up by its hash on the platform path, then the work happens in a
    /// transaction scoped to the invitation's organization. Unknown tokens are not found;
    /// expired, revoked and used invitations have their own errors; an email that does not
    /// match (case-insensitively) is [`TenancyError::InvitationEmailMismatch`].
    pub async fn accept_invitation(
        &self,
        ctx: &PlatformContext,
        token: &InvitationToken,
        user_email: &str,
    ) -> Result<Membership> {
        let Some(user_id) = ctx.actor().user_id() else {
            return Err(TenancyError::Forbidden(
                "only a signed-in user can accept an invitation",
            ));
        };
        let email = validate::email("email", user_email)?;
        let hash = token.hash();
        let platform = self.kernel().db().platform(ctx).await?;
        let found = model::Entity::find()
            .filter(model::Column::TokenHash.eq(hash.as_str()))
            .one(platform.raw())
            .await?;
        platform.rollback().await?;
        let found = found.ok_or(TenancyError::NotFound("invitation"))?;

        let tx = self.tenant_tx(&ctx.for_tenant(found.org_id)).await?;
        let row = lock_invitation(&tx, found.id).await?;
        let now = self.kernel().now();
        match row.status {
            _ if row.token_hash != hash => return Err(TenancyError::NotFound("invitation")),
            InvitationStatus::Accepted => return Err(TenancyError::InvitationUsed),
            InvitationStatus::Revoked => return Err(TenancyError::InvitationRevoked),
            InvitationStatus::Expired => return Err(TenancyError::InvitationExpired),
            InvitationStatus::Pending if now >= row.expires_at => {
                return Err(TenancyError::InvitationExpired);
            }
            InvitationStatus::Pending => {}
        }
        if row.email != email {
            return Err(TenancyError::InvitationEmailMismatch);
        }
        // Single use, even under concurrent acceptance: only one update wins.
        let claimed = tx
            .update_many::<model::Entity>()
            .col_expr(
                model::Column::Status,
                Expr::value(InvitationStatus::Accepted),
            )
            .col_expr(model::Column::AcceptedBy, Expr::value(user_id))
            .col_expr(model::Column::AcceptedAt, Expr::value(now))
            .col_expr(model::Column::UpdatedAt, Expr::value(now))
            .filter(model::Column::Id.eq(row.id))
            .filter(model::Column::Status.eq(InvitationStatus::Pending))
            .filter(model::Column::TokenHash.eq(hash.as_str()))
            .exec(tx.raw())
            .await?;
        if claimed.rows_affected != 1 {
            return Err(TenancyError::InvitationUsed);
        }
        let member =
            insert_membership(&tx, self.kernel().new_id(), user_id, email, row.role, now).await?;
        // Stored by us as a JSON array of UUIDs; a corrupt value fails the accept (and rolls
        // it back) rather than silently dropping the team joins.
        let team_ids: Vec<Uuid> = serde_json::from_value(row.team_ids.clone())
            .map_err(|e| TenancyError::Core(helix_core::Error::internal(e)))?;
        let invitation = Invitation::from(row);
        let mut joined = Vec::new();
        for team_id in &team_ids {
            // Teams deleted since the invitation was sent are skipped.
            if tx.find_by_id::<team::Entity, _>(*team_id).await?.is_some() {
                insert_team_member(&tx, self.kernel().new_id(), *team_id, user_id, now).await?;
                joined.push(*team_id);
            }
        }
        let data =
            json!({ "invitation_id": invitation.id, "user_id": user_id, "team_ids": joined });
        emit(
            &tx,
            now,
            "invitation.accepted",
            "invitation",
            invitation.id,
            data,
        )
        .await?;
        let data = json!({ "user_id": user_id, "email": member.email, "role": member.role, "invitation_id": invitation.id });
        emit(&tx, now, "member.added", "membership", member.id, data).await?;
        tx.commit().await?;
        Ok(member)
    }
}

async fn find_invitation(tx: &TenantTx, id: Uuid) -> Result<model::Model> {
    tx.find_by_id::<model::Entity, _>(id)
        .await?
        .ok_or(TenancyError::NotFound("invitation"))
}

/// Like [`find_invitation`], locking the row (`FOR UPDATE` on PostgreSQL; SQLite's write
/// transaction already serializes writers) so a concurrent accept, revoke or resend waits and
/// then sees this transaction's outcome instead of overwriting it.
async fn lock_invitation(tx: &TenantTx, id: Uuid) -> Result<model::Model> {
    tx.find::<model::Entity>()
        .filter(model::Column::Id.eq(id))
        .lock_exclusive()
        .one(tx.raw())
        .await?
        .ok_or(TenancyError::NotFound("invitation"))
}
