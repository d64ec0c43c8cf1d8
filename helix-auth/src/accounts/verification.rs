//! Email verification: single-use hashed tokens valid 24 hours, and an enumeration-safe,
//! rate-limited resend.

use chrono::Duration;
use helix_core::audit::{self, AuditEntry, PLATFORM_CHAIN};
use helix_core::{Actor, RequestMeta};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::email::{email_key, normalize_email};
use super::entity::{account, email_verification};
use super::events::{Event, SecurityEventKind};
use super::locked_account;
use super::{ResendOutcome, VerificationMail, VerificationToken};
use crate::error::{AuthError, Result};
use crate::service::AuthService;

impl AuthService {
    /// Creates and stores (hashed) a new verification token for `account_id`.
    pub(crate) async fn issue_verification<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: Uuid,
        email: &str,
    ) -> Result<VerificationMail> {
        let now = self.kernel().now();
        let token = VerificationToken::generate();
        let expires_at = now + self.config().email_verification.token_ttl();
        email_verification::Entity::insert(email_verification::ActiveModel {
            id: Set(self.kernel().new_id()),
            token_hash: Set(token.hash()),
            account_id: Set(account_id),
            expires_at: Set(expires_at),
            used_at: Set(None),
            created_at: Set(now),
        })
        .exec_without_returning(conn)
        .await?;
        Ok(VerificationMail {
            account_id,
            email: email.to_owned(),
            token,
            expires_at,
        })
    }

    /// Verifies the email of the account `token` was issued for and returns the account id.
    /// An unknown, expired or already used token is `INVALID_VERIFICATION_TOKEN` (one
    /// answer) and leaves a security event.
    pub async fn verify_email(
        &self,
        meta: &RequestMeta,
        token: &VerificationToken,
    ) -> Result<Uuid> {
        let ctx = self.platform_ctx(Actor::Anonymous, meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let now = self.kernel().now();
        let row = email_verification::Entity::find()
            .filter(email_verification::Column::TokenHash.eq(token.hash()))
            .one(tx.raw())
            .await?;
        let usable = row
            .as_ref()
            .filter(|r| r.used_at.is_none() && r.expires_at > now);
        let Some(row) = usable else {
            let mut event = Event::new(SecurityEventKind::EmailVerificationFailed);
            if let Some(r) = &row {
                let reason = if r.used_at.is_some() {
                    "used"
                } else {
                    "expired"
                };
                event = event
                    .account(r.account_id)
                    .data(json!({ "reason": reason }));
            } else {
                event = event.data(json!({ "reason": "unknown" }));
            }
            self.record_event(tx.raw(), meta, event).await?;
            tx.commit().await?;
            return Err(AuthError::InvalidVerificationToken);
        };
        // Single use, even against a concurrent verification of the same token.
        let used = email_verification::Entity::update_many()
            .col_expr(email_verification::Column::UsedAt, Expr::value(now))
            .filter(email_verification::Column::Id.eq(row.id))
            .filter(email_verification::Column::UsedAt.is_null())
            .exec(tx.raw())
            .await?;
        if used.rows_affected != 1 {
            tx.rollback().await?;
            return Err(AuthError::InvalidVerificationToken);
        }
        let account_id = row.account_id;
        account::Entity::update_many()
            .col_expr(account::Column::EmailVerifiedAt, Expr::value(now))
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(account_id))
            .filter(account::Column::EmailVerifiedAt.is_null())
            .exec(tx.raw())
            .await?;
        self.record_event(
            tx.raw(),
            meta,
            Event::new(SecurityEventKind::EmailVerified).account(account_id),
        )
        .await?;
        audit::record_platform(
            &tx,
            meta,
            PLATFORM_CHAIN,
            now,
            AuditEntry::new("auth.account.email_verified", "account", account_id),
        )
        .await?;
        tx.commit().await?;
        Ok(account_id)
    }

    /// Issues a new verification token for `email` when it names an unverified account
    /// that has been sent fewer than `max_sends_per_hour` tokens in the last hour
    /// (registration included). Otherwise returns no mail and records why as a security
    /// event: the caller answers the same in every case, and the limit is never reported
    /// as a 429, which would reveal that the account exists. Earlier tokens stay valid
    /// until they expire.
    pub async fn resend_verification(
        &self,
        meta: &RequestMeta,
        email: &str,
    ) -> Result<ResendOutcome> {
        let email = normalize_email(email)?;
        let key = email_key(&email);
        let ctx = self.platform_ctx(Actor::Anonymous, meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let refused = |reason: &'static str| {
            Event::new(SecurityEventKind::VerificationResendRefused)
                .email_key(key.clone())
                .data(json!({ "reason": reason }))
        };
        let Some(acc) = locked_account(&tx, account::Column::Email.eq(&email)).await? else {
            self.record_event(tx.raw(), meta, refused("unknown_email"))
                .await?;
            tx.commit().await?;
            return Ok(ResendOutcome { mail: None });
        };
        if acc.email_verified_at.is_some() {
            self.record_event(tx.raw(), meta, refused("already_verified").account(acc.id))
                .await?;
            tx.commit().await?;
            return Ok(ResendOutcome { mail: None });
        }
        let since = self.kernel().now() - Duration::hours(1);
        let sent = email_verification::Entity::find()
            .filter(email_verification::Column::AccountId.eq(acc.id))
            .filter(email_verification::Column::CreatedAt.gt(since))
            .count(tx.raw())
            .await?;
        if sent >= u64::from(self.config().email_verification.max_sends_per_hour) {
            self.record_event(tx.raw(), meta, refused("rate_limited").account(acc.id))
                .await?;
            tx.commit().await?;
            return Ok(ResendOutcome { mail: None });
        }
        let mail = self.issue_verification(tx.raw(), acc.id, &email).await?;
        self.queue_mail(&tx, meta, mail.outgoing()).await?;
        self.record_event(
            tx.raw(),
            meta,
            Event::new(SecurityEventKind::VerificationResent)
                .account(acc.id)
                .email_key(key.clone()),
        )
        .await?;
        tx.commit().await?;
        Ok(ResendOutcome { mail: Some(mail) })
    }
}
