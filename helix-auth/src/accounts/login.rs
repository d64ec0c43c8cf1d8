//! Login: one answer (`INVALID_CREDENTIALS`) and the same argon2 cost for an unknown email,
//! a wrong password and a locked account; lockout after consecutive failures; a progressive
//! delay keyed by the email (known or not); rehash on success when parameters changed.

use chrono::{DateTime, Utc};
use helix_core::{Actor, RequestMeta};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use sea_orm::{QueryOrder, QuerySelect};
use serde_json::json;

use super::AuthenticatedAccount;
use super::email::{email_key, normalize_email};
use super::entity::{account, security_event};
use super::events::{Event, SecurityEventKind};
use super::locked_account;
use crate::error::{AuthError, Result};
use crate::mail::{NEW_SIGN_IN, OutgoingMail};
use crate::passwords::{Password, Verification};
use crate::service::AuthService;

impl AuthService {
    /// Authenticates `email` with `password`.
    ///
    /// - Unknown email, wrong password and locked account all answer
    ///   [`AuthError::InvalidCredentials`] after one argon2 verification (a dummy one when
    ///   there is no usable hash), so neither the answer nor its timing reveals whether the
    ///   account exists or is locked. A lock is visible only in the security events (the
    ///   host may notify the owner).
    /// - `lockout.max_failures` consecutive wrong passwords lock the account for
    ///   `lockout.lock_secs`; the counter restarts after a success or a lock.
    /// - Before answering, it waits `lockout.delay_for(n)` where `n` counts the failed
    ///   attempts on this email (known or not) since its last success, within the lock
    ///   window.
    /// - With the right password, an unverified email answers
    ///   [`AuthError::EmailNotVerified`] when verification is required (only someone who
    ///   knows the password learns it).
    /// - A stored hash made with other argon2 parameters is replaced.
    ///
    /// Every outcome is a security event.
    pub async fn login(
        &self,
        meta: &RequestMeta,
        email: &str,
        password: &Password,
    ) -> Result<AuthenticatedAccount> {
        // An email that cannot exist is treated like an unknown one (no validation error).
        let normalized = normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
        let key = email_key(&normalized);
        let delay = self.recent_failures(&key).await?;
        tokio::time::sleep(self.config().lockout.delay_for(delay)).await;

        let too_long = password.expose().chars().count() > self.config().password.max_length;
        let ctx = self.platform_ctx(Actor::Anonymous, meta);
        let found = {
            let tx = self.kernel().db().platform_read(&ctx).await?;
            let found = account::Entity::find()
                .filter(account::Column::Email.eq(&normalized))
                .one(tx.raw())
                .await?;
            tx.rollback().await?;
            found
        };
        let now = self.kernel().now();
        let acc = match found {
            None => {
                self.hasher().dummy_verify(password).await;
                let event = Event::new(SecurityEventKind::LoginFailed)
                    .email_key(key)
                    .data(json!({ "reason": "unknown_email" }));
                self.record_standalone(meta, event).await?;
                return Err(AuthError::InvalidCredentials);
            }
            Some(acc) if acc.locked_until.is_some_and(|until| until > now) => {
                self.hasher().dummy_verify(password).await;
                let event = Event::new(SecurityEventKind::LoginLocked)
                    .account(acc.id)
                    .email_key(key);
                self.record_standalone(meta, event).await?;
                return Err(AuthError::InvalidCredentials);
            }
            Some(acc) => acc,
        };

        let verification = if too_long {
            self.hasher().dummy_verify(password).await;
            Verification::Mismatch
        } else {
            self.hasher().verify(password, &acc.password_hash).await?
        };
        match verification {
            Verification::Mismatch => {
                self.register_failure(meta, &acc, &key).await?;
                Err(AuthError::InvalidCredentials)
            }
            Verification::Match { needs_rehash } => {
                self.succeed(meta, acc, key, password, needs_rehash).await
            }
        }
    }

    /// Records a wrong password: bumps the counter atomically and locks at the threshold.
    async fn register_failure(
        &self,
        meta: &RequestMeta,
        acc: &account::Model,
        key: &str,
    ) -> Result<()> {
        let ctx = self.platform_ctx(Actor::Anonymous, meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let now = self.kernel().now();
        account::Entity::update_many()
            .col_expr(
                account::Column::FailedLogins,
                Expr::col(account::Column::FailedLogins).add(1),
            )
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(acc.id))
            .exec(tx.raw())
            .await?;
        let failures = account::Entity::find_by_id(acc.id)
            .one(tx.raw())
            .await?
            .map_or(0, |a| a.failed_logins);
        self.record_event(
            tx.raw(),
            meta,
            Event::new(SecurityEventKind::LoginFailed)
                .account(acc.id)
                .email_key(key)
                .data(json!({ "reason": "wrong_password", "failed_logins": failures })),
        )
        .await?;
        let max = i32::try_from(self.config().lockout.max_failures).unwrap_or(i32::MAX);
        if failures >= max {
            let until = now + self.config().lockout.lock_duration();
            account::Entity::update_many()
                .col_expr(account::Column::FailedLogins, Expr::value(0))
                .col_expr(account::Column::LockedUntil, Expr::value(until))
                .filter(account::Column::Id.eq(acc.id))
                .exec(tx.raw())
                .await?;
            self.record_event(
                tx.raw(),
                meta,
                Event::new(SecurityEventKind::AccountLocked)
                    .account(acc.id)
                    .email_key(key)
                    .data(json!({ "locked_until": until.to_rfc3339() })),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The right password: checks verification, resets the counter, rehashes if needed.
    async fn succeed(
        &self,
        meta: &RequestMeta,
        acc: account::Model,
        key: String,
        password: &Password,
        needs_rehash: bool,
    ) -> Result<AuthenticatedAccount> {
        let will_succeed =
            !self.config().email_verification.required || acc.email_verified_at.is_some();
        let new_hash = if needs_rehash && will_succeed {
            Some(self.hasher().hash(password).await?)
        } else {
            None
        };
        let ctx = self.platform_ctx(Actor::User(acc.id), meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let now = self.kernel().now();
        // Re-read under the write lock: a concurrent attempt may have locked the account.
        let Some(current) = locked_account(&tx, account::Column::Id.eq(acc.id)).await? else {
            tx.rollback().await?;
            return Err(AuthError::InvalidCredentials);
        };
        if current.locked_until.is_some_and(|until| until > now) {
            let event = Event::new(SecurityEventKind::LoginLocked)
                .account(acc.id)
                .email_key(key);
            self.record_event(tx.raw(), meta, event).await?;
            tx.commit().await?;
            return Err(AuthError::InvalidCredentials);
        }
        let reset = account::Entity::update_many()
            .col_expr(account::Column::FailedLogins, Expr::value(0))
            .col_expr(
                account::Column::LockedUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(acc.id));
        if self.config().email_verification.required && current.email_verified_at.is_none() {
            reset.exec(tx.raw()).await?;
            let event = Event::new(SecurityEventKind::LoginUnverified)
                .account(acc.id)
                .email_key(key);
            self.record_event(tx.raw(), meta, event).await?;
            tx.commit().await?;
            return Err(AuthError::EmailNotVerified);
        }
        let mut update = reset.col_expr(account::Column::LastLoginAt, Expr::value(now));
        if let Some(hash) = &new_hash {
            update = update.col_expr(account::Column::PasswordHash, Expr::value(hash.clone()));
        }
        update.exec(tx.raw()).await?;
        if new_hash.is_some() {
            let event = Event::new(SecurityEventKind::PasswordRehashed).account(acc.id);
            self.record_event(tx.raw(), meta, event).await?;
        }
        if self.new_sign_in_mail() && !self.known_device(&tx, acc.id, meta).await? {
            let mail = OutgoingMail::new(NEW_SIGN_IN, &current.email)
                .data("time", now.to_rfc3339())
                .data(
                    "ip",
                    meta.ip
                        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
                )
                .data(
                    "user_agent",
                    meta.user_agent.clone().unwrap_or_else(|| "unknown".into()),
                );
            self.queue_mail(&tx, meta, mail).await?;
        }
        let event = Event::new(SecurityEventKind::LoginSucceeded)
            .account(acc.id)
            .email_key(key);
        self.record_event(tx.raw(), meta, event).await?;
        tx.commit().await?;
        Ok(AuthenticatedAccount {
            account_id: current.id,
            email: current.email,
            email_verified: current.email_verified_at.is_some(),
            previous_login_at: current.last_login_at,
        })
    }

    /// Whether `account_id` signed in before from the request's IP address and user agent
    /// (a `login_succeeded` security event with both).
    async fn known_device(
        &self,
        tx: &helix_core::PlatformTx,
        account_id: uuid::Uuid,
        meta: &RequestMeta,
    ) -> Result<bool> {
        let mut q = security_event::Entity::find()
            .filter(security_event::Column::AccountId.eq(account_id))
            .filter(security_event::Column::Kind.eq(SecurityEventKind::LoginSucceeded.as_str()));
        q = match meta.ip {
            Some(ip) => q.filter(security_event::Column::Ip.eq(ip.to_string())),
            None => q.filter(security_event::Column::Ip.is_null()),
        };
        q = match &meta.user_agent {
            Some(ua) => q.filter(security_event::Column::UserAgent.eq(ua.clone())),
            None => q.filter(security_event::Column::UserAgent.is_null()),
        };
        Ok(q.count(tx.raw()).await? > 0)
    }

    /// Failed attempts on the email key since its last success, within the lock window.
    async fn recent_failures(&self, key: &str) -> Result<u32> {
        let ctx = self.platform_ctx(Actor::Anonymous, &RequestMeta::default());
        let tx = self.kernel().db().platform_read(&ctx).await?;
        let mut since = self.kernel().now() - self.config().lockout.lock_duration();
        let last_success = security_event::Entity::find()
            .filter(security_event::Column::EmailHash.eq(key))
            .filter(security_event::Column::Kind.is_in([
                SecurityEventKind::LoginSucceeded.as_str(),
                SecurityEventKind::PasswordReset.as_str(),
            ]))
            .filter(security_event::Column::OccurredAt.gt(since))
            .order_by_desc(security_event::Column::OccurredAt)
            .limit(1)
            .one(tx.raw())
            .await?;
        if let Some(ev) = last_success {
            since = ev.occurred_at;
        }
        let failure_kinds = [
            SecurityEventKind::LoginFailed,
            SecurityEventKind::LoginLocked,
        ]
        .into_iter()
        .filter(|k| k.counts_as_failure())
        .map(SecurityEventKind::as_str);
        let count = security_event::Entity::find()
            .filter(security_event::Column::EmailHash.eq(key))
            .filter(security_event::Column::Kind.is_in(failure_kinds))
            .filter(security_event::Column::OccurredAt.gt(since))
            .count(tx.raw())
            .await?;
        tx.rollback().await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// Records an event in its own transaction (outcomes that change nothing else).
    pub(crate) async fn record_standalone(&self, meta: &RequestMeta, event: Event) -> Result<()> {
        let ctx = self.platform_ctx(Actor::Anonymous, meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        self.record_event(tx.raw(), meta, event).await?;
        tx.commit().await?;
        Ok(())
    }
}
