//! Password reset: an enumeration-safe request that mails a 1-hour single-use token (stored
//! as a SHA-256 hash, at most `password_reset.max_requests_per_hour` per account), and a
//! confirmation that sets the new password, invalidates the account's other reset tokens,
//! clears the lockout and revokes every session of the account in the same transaction.

use chrono::{DateTime, Duration, Utc};
use helix_core::audit::{self, AuditEntry, PLATFORM_CHAIN};
use helix_core::{Actor, RequestMeta};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::email::{email_key, normalize_email};
use super::entity::{account, password_reset};
use super::events::{Event, SecurityEventKind};
use super::locked_account;
use super::{PasswordResetDone, PasswordResetMail, PasswordResetOutcome, PasswordResetToken};
use crate::error::{AuthError, Result};
use crate::passwords::Password;
use crate::service::AuthService;
use crate::sessions::{RevokeReason, SessionService};

impl AuthService {
    /// Issues a password-reset token for `email` when it names an account that has been sent
    /// fewer than `password_reset.max_requests_per_hour` reset tokens in the last hour.
    /// Otherwise returns no mail and records why as a security event: the caller answers the
    /// same in every case (the per-account limit is never a 429, which would reveal that the
    /// account exists). Earlier tokens stay valid until they expire or one of them is used.
    ///
    /// Only a malformed address is an error (`VALIDATION_ERROR` on `email`).
    pub async fn request_password_reset(
        &self,
        meta: &RequestMeta,
        email: &str,
    ) -> Result<PasswordResetOutcome> {
        let email = normalize_email(email)?;
        let key = email_key(&email);
        let ctx = self.platform_ctx(Actor::Anonymous, meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let refused = |reason: &'static str| {
            Event::new(SecurityEventKind::PasswordResetRefused)
                .email_key(key.clone())
                .data(json!({ "reason": reason }))
        };
        let Some(acc) = locked_account(&tx, account::Column::Email.eq(&email)).await? else {
            self.record_event(tx.raw(), meta, refused("unknown_email"))
                .await?;
            tx.commit().await?;
            return Ok(PasswordResetOutcome { mail: None });
        };
        let now = self.kernel().now();
        let sent = password_reset::Entity::find()
            .filter(password_reset::Column::AccountId.eq(acc.id))
            .filter(password_reset::Column::CreatedAt.gt(now - Duration::hours(1)))
            .count(tx.raw())
            .await?;
        if sent >= u64::from(self.config().password_reset.max_requests_per_hour) {
            self.record_event(tx.raw(), meta, refused("rate_limited").account(acc.id))
                .await?;
            tx.commit().await?;
            return Ok(PasswordResetOutcome { mail: None });
        }
        let token = PasswordResetToken::generate();
        let expires_at = now + self.config().password_reset.token_ttl();
        password_reset::Entity::insert(password_reset::ActiveModel {
            id: Set(self.kernel().new_id()),
            token_hash: Set(token.hash()),
            account_id: Set(acc.id),
            expires_at: Set(expires_at),
            used_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(now),
        })
        .exec_without_returning(tx.raw())
        .await?;
        self.record_event(
            tx.raw(),
            meta,
            Event::new(SecurityEventKind::PasswordResetRequested)
                .account(acc.id)
                .email_key(key.clone()),
        )
        .await?;
        let mail = PasswordResetMail {
            account_id: acc.id,
            email,
            token,
            expires_at,
        };
        self.queue_mail(&tx, meta, mail.outgoing()).await?;
        tx.commit().await?;
        Ok(PasswordResetOutcome { mail: Some(mail) })
    }

    /// Sets a new password with a reset token and signs the account out everywhere.
    ///
    /// - An unknown, expired, used or invalidated token is [`AuthError::InvalidResetToken`]
    ///   (one answer) and a security event.
    /// - A `new_password` that fails the policy or matches a recent password is a
    ///   `VALIDATION_ERROR` on `new_password` (as for a password change); the token is not
    ///   consumed and can be used again with a better password.
    /// - Otherwise, in one transaction: the token is marked used (a conditional update, so
    ///   two concurrent confirmations cannot both win), the account's other outstanding reset
    ///   tokens are invalidated, the password is replaced and recorded in the history, the
    ///   lockout counters are cleared, the email counts as verified (the token came through
    ///   it), every session of the account is revoked (reason `password_reset`), and a
    ///   security event and a platform audit entry are written. The revoked sessions are
    ///   then refused by `sessions` at once.
    pub async fn reset_password(
        &self,
        meta: &RequestMeta,
        token: &PasswordResetToken,
        new_password: &Password,
        sessions: &SessionService,
    ) -> Result<PasswordResetDone> {
        let anonymous = self.platform_ctx(Actor::Anonymous, meta);
        let now = self.kernel().now();
        let row = {
            let tx = self.kernel().db().platform_read(&anonymous).await?;
            let row = password_reset::Entity::find()
                .filter(password_reset::Column::TokenHash.eq(token.hash()))
                .one(tx.raw())
                .await?;
            tx.rollback().await?;
            row
        };
        let row = match row {
            Some(r) if usable(&r, now) => r,
            other => {
                let reason = match &other {
                    None => "unknown",
                    Some(r) if r.used_at.is_some() => "used",
                    Some(r) if r.revoked_at.is_some() => "invalidated",
                    Some(_) => "expired",
                };
                let mut event = Event::new(SecurityEventKind::PasswordResetFailed)
                    .data(json!({ "reason": reason }));
                if let Some(r) = &other {
                    event = event.account(r.account_id);
                }
                self.record_standalone(meta, event).await?;
                return Err(AuthError::InvalidResetToken);
            }
        };
        let account_id = row.account_id;
        let (acc, history) = self.password_state(&anonymous, account_id).await?;
        self.check_new_password(new_password, &acc, &history)
            .await?;
        let hash = self.hasher().hash(new_password).await?;

        let ctx = self.platform_ctx(Actor::User(account_id), meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let now = self.kernel().now();
        let used = password_reset::Entity::update_many()
            .col_expr(password_reset::Column::UsedAt, Expr::value(now))
            .filter(password_reset::Column::Id.eq(row.id))
            .filter(password_reset::Column::UsedAt.is_null())
            .filter(password_reset::Column::RevokedAt.is_null())
            .filter(password_reset::Column::ExpiresAt.gt(now))
            .exec(tx.raw())
            .await?;
        if used.rows_affected != 1 {
            // A concurrent confirmation (of this or another token of the account) won.
            tx.rollback().await?;
            let event = Event::new(SecurityEventKind::PasswordResetFailed)
                .account(account_id)
                .data(json!({ "reason": "used" }));
            self.record_standalone(meta, event).await?;
            return Err(AuthError::InvalidResetToken);
        }
        self.revoke_reset_tokens(tx.raw(), account_id, now).await?;
        account::Entity::update_many()
            .col_expr(account::Column::PasswordHash, Expr::value(hash.clone()))
            .col_expr(account::Column::FailedLogins, Expr::value(0))
            .col_expr(
                account::Column::LockedUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(account_id))
            .exec(tx.raw())
            .await?;
        account::Entity::update_many()
            .col_expr(account::Column::EmailVerifiedAt, Expr::value(now))
            .filter(account::Column::Id.eq(account_id))
            .filter(account::Column::EmailVerifiedAt.is_null())
            .exec(tx.raw())
            .await?;
        self.push_password_history(tx.raw(), account_id, hash, now)
            .await?;
        let revoked = crate::sessions::store::revoke_where(
            tx.raw(),
            "account_id = $3",
            vec![account_id.into()],
            now,
            RevokeReason::PasswordReset.as_str(),
        )
        .await?;
        // The email key makes the reset a fresh start for the login's progressive delay.
        let event = Event::new(SecurityEventKind::PasswordReset)
            .account(account_id)
            .email_key(email_key(&acc.email))
            .data(json!({ "revoked_sessions": revoked.len() }));
        self.record_event(tx.raw(), meta, event).await?;
        audit::record_platform(
            &tx,
            meta,
            PLATFORM_CHAIN,
            now,
            AuditEntry::new("auth.account.password_reset", "account", account_id),
        )
        .await?;
        tx.commit().await?;
        let revoked_sessions = revoked.len() as u64;
        sessions.mark_revoked(revoked);
        Ok(PasswordResetDone {
            account_id,
            revoked_sessions,
        })
    }

    /// Invalidates every outstanding reset token of `account_id` (after a reset or a
    /// password change).
    pub(crate) async fn revoke_reset_tokens<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        password_reset::Entity::update_many()
            .col_expr(password_reset::Column::RevokedAt, Expr::value(now))
            .filter(password_reset::Column::AccountId.eq(account_id))
            .filter(password_reset::Column::UsedAt.is_null())
            .filter(password_reset::Column::RevokedAt.is_null())
            .exec(conn)
            .await?;
        Ok(())
    }
}

fn usable(row: &password_reset::Model, now: DateTime<Utc>) -> bool {
    row.used_at.is_none() && row.revoked_at.is_none() && row.expires_at > now
}
