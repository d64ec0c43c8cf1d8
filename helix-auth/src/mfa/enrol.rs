//! Enrolment, status, disabling and backup codes, and the checks the challenge shares.

use chrono::{DateTime, Utc};
use helix_core::{Actor, RequestMeta};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::backup::{self, BACKUP_CODE_COUNT, BackupCode};
use super::entity::{backup_code, totp};
use super::totp::{TotpSecret, otpauth_uri, qr_svg, well_formed_code};
use super::{MfaProof, MfaStatus, TotpEnrolment};
use crate::accounts::entity::account;
use crate::accounts::events::{Event, SecurityEventKind};
use crate::accounts::locked_account;
use crate::crypto::KeyRing;
use crate::error::{AuthError, Result};
use crate::mail::MfaChange;
use crate::passwords::Password;
use crate::service::AuthService;

/// What checking a TOTP code found.
pub(super) enum TotpCheck {
    /// The code of this step, newer than the last accepted one.
    Accepted(u64),
    /// A right code of a step already used.
    Reused,
    /// Not a code of the window.
    Wrong,
}

/// What checking a second factor found.
pub(super) enum ProofCheck {
    /// Accepted; `backup` when a backup code was spent.
    Accepted { backup: bool },
    /// A right TOTP code of a step already used.
    Reused,
    /// Wrong.
    Wrong,
}

impl ProofCheck {
    pub(super) fn reason(&self) -> &'static str {
        match self {
            Self::Accepted { .. } => "accepted",
            Self::Reused => "code_reused",
            Self::Wrong => "wrong_code",
        }
    }
}

fn context(account_id: Uuid) -> Vec<u8> {
    format!("totp:{account_id}").into_bytes()
}

fn step_i64(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

impl AuthService {
    fn keys(&self) -> Result<&KeyRing> {
        self.key_ring().ok_or_else(|| {
            AuthError::Core(helix_core::Error::Config(
                "helix-auth: MFA needs an encryption key ring (AuthServiceBuilder::key_ring)"
                    .into(),
            ))
        })
    }

    /// Starts (or restarts) a TOTP enrolment for `account_id`: a new pending secret, sealed
    /// at rest, replacing any pending one. Refused with
    /// [`AuthError::MfaAlreadyEnabled`] while a confirmed authenticator exists.
    pub async fn enrol_totp(&self, meta: &RequestMeta, account_id: Uuid) -> Result<TotpEnrolment> {
        let keys = self.keys()?;
        let ctx = self.platform_ctx(Actor::User(account_id), meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let Some(acc) = locked_account(&tx, account::Column::Id.eq(account_id)).await? else {
            tx.rollback().await?;
            return Err(AuthError::AccountNotFound);
        };
        let existing = totp::Entity::find_by_id(account_id).one(tx.raw()).await?;
        if existing.as_ref().is_some_and(|t| t.confirmed_at.is_some()) {
            tx.rollback().await?;
            return Err(AuthError::MfaAlreadyEnabled);
        }
        let secret = TotpSecret::generate();
        let sealed = keys
            .seal(secret.expose_bytes(), &context(account_id))
            .map_err(helix_core::Error::from)?;
        let now = self.kernel().now();
        totp::Entity::delete_many()
            .filter(totp::Column::AccountId.eq(account_id))
            .exec(tx.raw())
            .await?;
        totp::Entity::insert(totp::ActiveModel {
            account_id: Set(account_id),
            secret_sealed: Set(sealed),
            key_id: Set(keys.active_key_id().to_owned()),
            confirmed_at: Set(None),
            last_used_step: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(tx.raw())
        .await?;
        let event = Event::new(SecurityEventKind::MfaEnrolmentStarted).account(account_id);
        self.record_event(tx.raw(), meta, event).await?;
        tx.commit().await?;

        let issuer = match self.config().mfa.issuer.trim() {
            "" => self.config().product_name.as_str(),
            issuer => issuer,
        };
        let uri = otpauth_uri(issuer, &acc.email, &secret);
        let qr = qr_svg(&uri).ok_or_else(|| helix_core::Error::internal_msg("QR code"))?;
        Ok(TotpEnrolment {
            secret: secret.to_base32(),
            otpauth_uri: uri,
            qr_svg: qr,
        })
    }

    /// Confirms the pending enrolment of `account_id` with a current `code`: MFA is on from
    /// now, and the [`BACKUP_CODE_COUNT`] backup codes returned are shown this once. A wrong
    /// code is a `VALIDATION_ERROR` on `code` (the enrolment stays pending); no pending
    /// enrolment is [`AuthError::MfaNotPending`]. The current `password` is required (a
    /// wrong one is a `VALIDATION_ERROR` on `password`), so a stolen access token cannot
    /// enrol an authenticator.
    pub async fn confirm_totp(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
        password: &Password,
        code: &str,
    ) -> Result<Vec<BackupCode>> {
        // A stolen access token alone must not enrol the thief's authenticator (which would
        // lock the owner out and upgrade the session to multi-factor).
        self.reauthenticate(meta, account_id, password).await?;
        let keys = self.keys()?;
        let ctx = self.platform_ctx(Actor::User(account_id), meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        if locked_account(&tx, account::Column::Id.eq(account_id))
            .await?
            .is_none()
        {
            tx.rollback().await?;
            return Err(AuthError::AccountNotFound);
        }
        let row = match totp::Entity::find_by_id(account_id).one(tx.raw()).await? {
            Some(row) if row.confirmed_at.is_none() => row,
            _ => {
                tx.rollback().await?;
                return Err(AuthError::MfaNotPending);
            }
        };
        let now = self.kernel().now();
        let step = match self.check_totp(tx.raw(), keys, &row, code, now).await? {
            TotpCheck::Accepted(step) => step,
            TotpCheck::Reused | TotpCheck::Wrong => {
                tx.rollback().await?;
                return Err(wrong_code("code"));
            }
        };
        totp::Entity::update_many()
            .col_expr(totp::Column::ConfirmedAt, Expr::value(now))
            .col_expr(totp::Column::LastUsedStep, Expr::value(step_i64(step)))
            .col_expr(totp::Column::UpdatedAt, Expr::value(now))
            .filter(totp::Column::AccountId.eq(account_id))
            .exec(tx.raw())
            .await?;
        let codes = self.replace_backup_codes(tx.raw(), account_id, now).await?;
        let event = Event::new(SecurityEventKind::MfaEnrolled)
            .account(account_id)
            .data(json!({ "method": "totp", "backup_codes": codes.len() }));
        self.record_event(tx.raw(), meta, event).await?;
        self.queue_mfa_changed_mail(&tx, meta, account_id, MfaChange::Enabled)
            .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Whether `account_id` has MFA on, and its unused backup codes.
    pub async fn mfa_status(&self, account_id: Uuid) -> Result<MfaStatus> {
        let ctx = helix_core::PlatformContext::system("helix-auth.mfa");
        let tx = self.kernel().db().platform_read(&ctx).await?;
        let totp = totp::Entity::find_by_id(account_id)
            .one(tx.raw())
            .await?
            .is_some_and(|t| t.confirmed_at.is_some());
        let remaining = remaining_codes(tx.raw(), account_id).await?;
        tx.rollback().await?;
        Ok(MfaStatus {
            totp,
            backup_codes_remaining: remaining,
        })
    }

    /// Turns MFA off for `account_id` after re-authentication: the current `password` and a
    /// second factor (`proof`: a current TOTP code or an unused backup code). The TOTP
    /// secret and every backup code are deleted. A wrong password or code is a
    /// `VALIDATION_ERROR` on `password` or `code` (a wrong code also counts toward the
    /// account lockout); no active MFA is [`AuthError::MfaNotEnabled`].
    pub async fn disable_mfa(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
        password: &Password,
        proof: &MfaProof,
    ) -> Result<()> {
        self.reauthenticate(meta, account_id, password).await?;
        let ctx = self.platform_ctx(Actor::User(account_id), meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let Some(acc) = locked_account(&tx, account::Column::Id.eq(account_id)).await? else {
            tx.rollback().await?;
            return Err(AuthError::AccountNotFound);
        };
        let Some(row) = confirmed_totp(tx.raw(), account_id).await? else {
            tx.rollback().await?;
            return Err(AuthError::MfaNotEnabled);
        };
        let now = self.kernel().now();
        let check = self.check_proof(tx.raw(), &row, proof, now).await?;
        if !matches!(check, ProofCheck::Accepted { .. }) {
            let event = Event::new(SecurityEventKind::MfaReauthFailed)
                .account(account_id)
                .data(json!({ "action": "disable", "reason": check.reason() }));
            self.record_event(tx.raw(), meta, event).await?;
            self.count_code_failure(tx.raw(), meta, &acc).await?;
            tx.commit().await?;
            return Err(wrong_code("code"));
        }
        totp::Entity::delete_many()
            .filter(totp::Column::AccountId.eq(account_id))
            .exec(tx.raw())
            .await?;
        backup_code::Entity::delete_many()
            .filter(backup_code::Column::AccountId.eq(account_id))
            .exec(tx.raw())
            .await?;
        let event = Event::new(SecurityEventKind::MfaDisabled)
            .account(account_id)
            .data(json!({ "reauthenticated_with": proof.method() }));
        self.record_event(tx.raw(), meta, event).await?;
        self.queue_mfa_changed_mail(&tx, meta, account_id, MfaChange::Disabled)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the backup codes of `account_id` after re-authentication with the current
    /// `password`; the new codes are returned (shown this once), the old ones stop working.
    /// A wrong password is a `VALIDATION_ERROR` on `password`; no active MFA is
    /// [`AuthError::MfaNotEnabled`].
    pub async fn regenerate_backup_codes(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
        password: &Password,
    ) -> Result<Vec<BackupCode>> {
        self.reauthenticate(meta, account_id, password).await?;
        let ctx = self.platform_ctx(Actor::User(account_id), meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        if locked_account(&tx, account::Column::Id.eq(account_id))
            .await?
            .is_none()
        {
            tx.rollback().await?;
            return Err(AuthError::AccountNotFound);
        }
        if confirmed_totp(tx.raw(), account_id).await?.is_none() {
            tx.rollback().await?;
            return Err(AuthError::MfaNotEnabled);
        }
        let now = self.kernel().now();
        let codes = self.replace_backup_codes(tx.raw(), account_id, now).await?;
        let event = Event::new(SecurityEventKind::BackupCodesRegenerated)
            .account(account_id)
            .data(json!({ "backup_codes": codes.len() }));
        self.record_event(tx.raw(), meta, event).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Checks the current password of `account_id` (a `VALIDATION_ERROR` on `password` and a
    /// security event when wrong).
    async fn reauthenticate(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
        password: &Password,
    ) -> Result<()> {
        let ctx = self.platform_ctx(Actor::User(account_id), meta);
        let (acc, _) = self.password_state(&ctx, account_id).await?;
        let too_long = password.expose().chars().count() > self.config().password.max_length;
        let ok = if too_long {
            self.hasher().dummy_verify(password).await;
            false
        } else {
            self.hasher()
                .verify(password, &acc.password_hash)
                .await?
                .is_match()
        };
        if ok {
            return Ok(());
        }
        let event = Event::new(SecurityEventKind::MfaReauthFailed)
            .account(account_id)
            .data(json!({ "reason": "wrong_password" }));
        let tx = self.kernel().db().platform(&ctx).await?;
        self.record_event(tx.raw(), meta, event).await?;
        tx.commit().await?;
        Err(AuthError::invalid(
            "password",
            "incorrect",
            "the current password is not correct",
        ))
    }

    /// Checks `code` against the TOTP secret of `row` at `now` (skew and replay included),
    /// re-sealing the secret under the active key when it was sealed under a retired one.
    pub(super) async fn check_totp<C: ConnectionTrait>(
        &self,
        conn: &C,
        keys: &KeyRing,
        row: &totp::Model,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<TotpCheck> {
        let ctx = context(row.account_id);
        let secret = TotpSecret::from_bytes(
            &keys
                .open(&row.secret_sealed, &ctx)
                .map_err(helix_core::Error::from)?,
        );
        if keys.needs_reseal(&row.secret_sealed) {
            let sealed = keys
                .seal(secret.expose_bytes(), &ctx)
                .map_err(helix_core::Error::from)?;
            totp::Entity::update_many()
                .col_expr(totp::Column::SecretSealed, Expr::value(sealed))
                .col_expr(
                    totp::Column::KeyId,
                    Expr::value(keys.active_key_id().to_owned()),
                )
                .filter(totp::Column::AccountId.eq(row.account_id))
                .exec(conn)
                .await?;
        }
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if !well_formed_code(&code) {
            return Ok(TotpCheck::Wrong);
        }
        let steps = secret.matching_steps(&code, now, self.config().mfa.skew_steps);
        let last = row.last_used_step.unwrap_or(-1);
        Ok(match steps.iter().find(|s| step_i64(**s) > last) {
            Some(step) => TotpCheck::Accepted(*step),
            None if !steps.is_empty() => TotpCheck::Reused,
            None => TotpCheck::Wrong,
        })
    }

    /// Checks a second factor of `row`'s account and spends it when accepted: a TOTP code
    /// moves the last accepted step (conditionally, so of two concurrent uses one wins), a
    /// backup code is marked used.
    pub(super) async fn check_proof<C: ConnectionTrait>(
        &self,
        conn: &C,
        row: &totp::Model,
        proof: &MfaProof,
        now: DateTime<Utc>,
    ) -> Result<ProofCheck> {
        match proof {
            MfaProof::Totp(code) => {
                let keys = self.keys()?;
                match self.check_totp(conn, keys, row, code, now).await? {
                    TotpCheck::Accepted(step) => {
                        let step = step_i64(step);
                        let moved = totp::Entity::update_many()
                            .col_expr(totp::Column::LastUsedStep, Expr::value(step))
                            .col_expr(totp::Column::UpdatedAt, Expr::value(now))
                            .filter(totp::Column::AccountId.eq(row.account_id))
                            .filter(
                                totp::Column::LastUsedStep
                                    .is_null()
                                    .or(totp::Column::LastUsedStep.lt(step)),
                            )
                            .exec(conn)
                            .await?
                            .rows_affected;
                        Ok(if moved == 1 {
                            ProofCheck::Accepted { backup: false }
                        } else {
                            ProofCheck::Reused
                        })
                    }
                    TotpCheck::Reused => Ok(ProofCheck::Reused),
                    TotpCheck::Wrong => Ok(ProofCheck::Wrong),
                }
            }
            MfaProof::BackupCode(code) => {
                let Some(normalized) = backup::normalize(code) else {
                    return Ok(ProofCheck::Wrong);
                };
                let hash = backup::hash(row.account_id, &normalized);
                let spent = backup_code::Entity::update_many()
                    .col_expr(backup_code::Column::UsedAt, Expr::value(now))
                    .filter(backup_code::Column::AccountId.eq(row.account_id))
                    .filter(backup_code::Column::CodeHash.eq(hash))
                    .filter(backup_code::Column::UsedAt.is_null())
                    .exec(conn)
                    .await?
                    .rows_affected;
                Ok(if spent == 1 {
                    ProofCheck::Accepted { backup: true }
                } else {
                    ProofCheck::Wrong
                })
            }
        }
    }

    /// Counts a wrong second factor toward the login lockout of `acc` (the same counter as
    /// wrong passwords): at `lockout.max_failures` the account locks for `lockout.lock_secs`.
    pub(super) async fn count_code_failure<C: ConnectionTrait>(
        &self,
        conn: &C,
        meta: &RequestMeta,
        acc: &account::Model,
    ) -> Result<bool> {
        let now = self.kernel().now();
        let failures = acc.failed_logins.saturating_add(1);
        let max = i32::try_from(self.config().lockout.max_failures).unwrap_or(i32::MAX);
        let locked = failures >= max;
        let mut update = account::Entity::update_many()
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(acc.id));
        if locked {
            let until = now + self.config().lockout.lock_duration();
            update = update
                .col_expr(account::Column::FailedLogins, Expr::value(0))
                .col_expr(account::Column::LockedUntil, Expr::value(until));
            let event = Event::new(SecurityEventKind::AccountLocked)
                .account(acc.id)
                .data(json!({ "locked_until": until.to_rfc3339(), "reason": "wrong_mfa_codes" }));
            self.record_event(conn, meta, event).await?;
        } else {
            update = update.col_expr(
                account::Column::FailedLogins,
                Expr::col(account::Column::FailedLogins).add(1),
            );
        }
        update.exec(conn).await?;
        Ok(locked)
    }

    /// Deletes the account's backup codes and issues [`BACKUP_CODE_COUNT`] new ones.
    async fn replace_backup_codes<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<BackupCode>> {
        backup_code::Entity::delete_many()
            .filter(backup_code::Column::AccountId.eq(account_id))
            .exec(conn)
            .await?;
        let mut codes: Vec<BackupCode> = Vec::with_capacity(BACKUP_CODE_COUNT);
        while codes.len() < BACKUP_CODE_COUNT {
            let code = BackupCode::generate();
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        let rows = codes.iter().map(|code| {
            let normalized =
                backup::normalize(code.expose()).unwrap_or_else(|| Zeroizing::new(String::new()));
            backup_code::ActiveModel {
                id: Set(self.kernel().new_id()),
                account_id: Set(account_id),
                code_hash: Set(backup::hash(account_id, &normalized)),
                used_at: Set(None),
                created_at: Set(now),
            }
        });
        backup_code::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
        Ok(codes)
    }
}

/// The confirmed TOTP authenticator of `account_id`, if any.
pub(super) async fn confirmed_totp<C: ConnectionTrait>(
    conn: &C,
    account_id: Uuid,
) -> Result<Option<totp::Model>> {
    Ok(totp::Entity::find_by_id(account_id)
        .one(conn)
        .await?
        .filter(|t| t.confirmed_at.is_some()))
}

/// The unused backup codes of `account_id`.
pub(super) async fn remaining_codes<C: ConnectionTrait>(conn: &C, account_id: Uuid) -> Result<u32> {
    let n = backup_code::Entity::find()
        .filter(backup_code::Column::AccountId.eq(account_id))
        .filter(backup_code::Column::UsedAt.is_null())
        .count(conn)
        .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn wrong_code(field: &str) -> AuthError {
    AuthError::invalid(field, "incorrect", "the code is not valid")
}
