//! The second step of a login: an MFA token issued after the password, exchanged for a
//! session with a TOTP code or a backup code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use helix_core::{Actor, RequestMeta};
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::MfaProof;
use super::enrol::{ProofCheck, confirmed_totp, remaining_codes};
use super::entity::challenge;
use super::{FirstStep, MfaChallenge, MfaToken, MfaVerified};
use crate::accounts::entity::account;
use crate::accounts::events::{Event, SecurityEventKind};
use crate::accounts::locked_account;
use crate::error::{AuthError, Result};
use crate::service::AuthService;
use crate::sessions::model::{hash_token, well_formed};

impl AuthService {
    /// After a successful password check of `account_id` (see [`AuthService::login`]): when
    /// the account has MFA on, issues the login's MFA token (`mfa.challenge_ttl_secs`, 5
    /// minutes by default, single use) and returns it; otherwise `None` (no second factor
    /// to ask for). The login's IP and user agent are stored with it.
    pub async fn begin_mfa_challenge(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
    ) -> Result<Option<MfaChallenge>> {
        self.begin_mfa_challenge_after(meta, account_id, FirstStep::PASSWORD)
            .await
    }

    /// Like [`AuthService::begin_mfa_challenge`] after any first step: the challenge
    /// remembers `first` (the first factor, and whether a browser session was asked for),
    /// and [`AuthService::complete_mfa_challenge`] hands it back in
    /// [`MfaVerified::first_step`], so the session gets `amr` `["otp", "fed"]` after an
    /// OpenID Connect sign-in and a browser keeps its cookies.
    pub async fn begin_mfa_challenge_after(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
        first: FirstStep,
    ) -> Result<Option<MfaChallenge>> {
        let ctx = self.platform_ctx(Actor::User(account_id), meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        if confirmed_totp(tx.raw(), account_id).await?.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        let token = MfaToken::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
        let now = self.kernel().now();
        let expires_at = now + self.config().mfa.challenge_ttl();
        challenge::Entity::insert(challenge::ActiveModel {
            id: Set(self.kernel().new_id()),
            token_hash: Set(hash_token(token.expose())),
            account_id: Set(account_id),
            ip: Set(meta.ip.map(|ip| ip.to_string())),
            user_agent: Set(meta.user_agent.clone()),
            failed_attempts: Set(0),
            expires_at: Set(expires_at),
            used_at: Set(None),
            created_at: Set(now),
            first_factor: Set(first.factor_name().to_owned()),
            browser: Set(first.browser),
        })
        .exec_without_returning(tx.raw())
        .await?;
        tx.commit().await?;
        Ok(Some(MfaChallenge {
            account_id,
            token,
            expires_at,
        }))
    }

    /// Completes a login's MFA challenge with a TOTP code or a backup code.
    ///
    /// - An unknown, expired or used token, or one dead after `mfa.max_challenge_attempts`
    ///   wrong codes, is [`AuthError::InvalidMfaToken`] (sign in again).
    /// - A wrong code, or a TOTP code of a step already accepted, is
    ///   [`AuthError::InvalidMfaCode`]; it counts toward the token's attempts and toward
    ///   the account lockout of login. When that locks the account the token dies too.
    /// - A locked account is [`AuthError::InvalidMfaToken`].
    ///
    /// On success the token is spent and the account's failure counter is reset; the
    /// caller starts the session (with [`MfaVerified::amr`]: `["pwd", "otp"]` after a
    /// password, `["otp", "fed"]` after OpenID Connect), in the mode the first step asked
    /// for ([`MfaVerified::first_step`]). Every outcome is a security event.
    pub async fn complete_mfa_challenge(
        &self,
        meta: &RequestMeta,
        token: &MfaToken,
        proof: &MfaProof,
    ) -> Result<MfaVerified> {
        if !well_formed(token.expose()) {
            return self.challenge_refused(meta, None, "unknown_token").await;
        }
        let hash = hash_token(token.expose());
        let ctx = self.platform_ctx(Actor::Anonymous, meta);
        let found = {
            let tx = self.kernel().db().platform_read(&ctx).await?;
            let found = challenge::Entity::find()
                .filter(challenge::Column::TokenHash.eq(&hash))
                .one(tx.raw())
                .await?;
            tx.rollback().await?;
            found
        };
        let Some(found) = found else {
            return self.challenge_refused(meta, None, "unknown_token").await;
        };
        let account_id = found.account_id;
        let ctx = self.platform_ctx(Actor::User(account_id), meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let now = self.kernel().now();
        // Lock the account first: concurrent attempts on one account queue here.
        let acc = locked_account(&tx, account::Column::Id.eq(account_id)).await?;
        let current = challenge::Entity::find_by_id(found.id)
            .one(tx.raw())
            .await?;
        let max = i32::try_from(self.config().mfa.max_challenge_attempts).unwrap_or(i32::MAX);
        let refusal = match (&acc, &current) {
            (None, _) | (_, None) => Some("unknown_token"),
            (_, Some(c)) if c.used_at.is_some() => Some("used_token"),
            (_, Some(c)) if c.expires_at <= now => Some("expired_token"),
            (_, Some(c)) if c.failed_attempts >= max => Some("too_many_attempts"),
            (Some(a), _) if a.locked_until.is_some_and(|until| until > now) => {
                Some("account_locked")
            }
            _ => None,
        };
        let (Some(acc), None) = (acc, refusal) else {
            tx.rollback().await?;
            return self
                .challenge_refused(meta, Some(account_id), refusal.unwrap_or("unknown_token"))
                .await;
        };
        let Some(totp) = confirmed_totp(tx.raw(), account_id).await? else {
            // MFA was disabled since the password step: nothing to check against.
            tx.rollback().await?;
            return self
                .challenge_refused(meta, Some(account_id), "mfa_disabled")
                .await;
        };

        let check = self.check_proof(tx.raw(), &totp, proof, now).await?;
        let ProofCheck::Accepted { backup } = check else {
            let attempts = current.map_or(0, |c| c.failed_attempts).saturating_add(1);
            challenge::Entity::update_many()
                .col_expr(
                    challenge::Column::FailedAttempts,
                    Expr::col(challenge::Column::FailedAttempts).add(1),
                )
                .filter(challenge::Column::Id.eq(found.id))
                .exec(tx.raw())
                .await?;
            let event = Event::new(SecurityEventKind::MfaChallengeFailed)
                .account(account_id)
                .data(json!({
                    "reason": check.reason(),
                    "method": proof.method(),
                    "attempts": attempts,
                }));
            self.record_event(tx.raw(), meta, event).await?;
            let locked = self.count_code_failure(tx.raw(), meta, &acc).await?;
            if locked {
                // A locked account's outstanding MFA tokens die with the lock.
                challenge::Entity::update_many()
                    .col_expr(challenge::Column::UsedAt, Expr::value(now))
                    .filter(challenge::Column::AccountId.eq(account_id))
                    .filter(challenge::Column::UsedAt.is_null())
                    .exec(tx.raw())
                    .await?;
            }
            tx.commit().await?;
            return Err(AuthError::InvalidMfaCode);
        };

        let spent = challenge::Entity::update_many()
            .col_expr(challenge::Column::UsedAt, Expr::value(now))
            .filter(challenge::Column::Id.eq(found.id))
            .filter(challenge::Column::UsedAt.is_null())
            .exec(tx.raw())
            .await?
            .rows_affected;
        if spent != 1 {
            tx.rollback().await?;
            return self
                .challenge_refused(meta, Some(account_id), "used_token")
                .await;
        }
        account::Entity::update_many()
            .col_expr(account::Column::FailedLogins, Expr::value(0))
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(account_id))
            .exec(tx.raw())
            .await?;
        let remaining = remaining_codes(tx.raw(), account_id).await?;
        if backup {
            let event = Event::new(SecurityEventKind::BackupCodeUsed)
                .account(account_id)
                .data(json!({ "remaining": remaining }));
            self.record_event(tx.raw(), meta, event).await?;
        }
        let event = Event::new(SecurityEventKind::MfaChallengeSucceeded)
            .account(account_id)
            .data(json!({ "method": proof.method() }));
        self.record_event(tx.raw(), meta, event).await?;
        tx.commit().await?;
        Ok(MfaVerified {
            account_id,
            used_backup_code: backup,
            backup_codes_remaining: remaining,
            first_step: FirstStep::from_stored(&found.first_factor, found.browser),
        })
    }

    async fn challenge_refused<T>(
        &self,
        meta: &RequestMeta,
        account_id: Option<Uuid>,
        reason: &'static str,
    ) -> Result<T> {
        let mut event =
            Event::new(SecurityEventKind::MfaChallengeFailed).data(json!({ "reason": reason }));
        if let Some(id) = account_id {
            event = event.account(id);
        }
        self.record_standalone(meta, event).await?;
        Err(AuthError::InvalidMfaToken)
    }
}
