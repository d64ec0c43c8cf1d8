//! [`OtpService`]: sending and verifying one-time codes, with the limits and the lockout.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use helix_core::{Actor, PlatformTx, RequestMeta};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::entity::{attempt, code, state};
use super::provider::queue_message;
use super::{Channel, OneTimeCode, OtpConfig, VERIFY_PHONE, validate_e164};
use crate::accounts::entity::account;
use crate::accounts::events::{Event, SecurityEventKind};
use crate::accounts::locked_account;
use crate::error::{AuthError, Result};
use crate::mail::{ONE_TIME_CODE, OutgoingMail};
use crate::service::AuthService;

/// A code that was issued (and queued for delivery when the service has a mail queue).
/// The code is for service-level callers and tests; the HTTP route never answers it.
#[derive(Debug, Clone)]
pub struct OtpSent {
    /// The code.
    pub code: OneTimeCode,
    /// Where it went.
    pub channel: Channel,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// An account's phone number and whether it is verified. `Debug` leaves out the number.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneStatus {
    /// The E.164 number, if one is set.
    pub phone: Option<String>,
    /// Whether a code sent to it was verified.
    pub verified: bool,
}

impl fmt::Debug for PhoneStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneStatus")
            .field("phone", &self.phone.as_ref().map(|_| "***"))
            .field("verified", &self.verified)
            .finish()
    }
}

/// One-time codes for accounts of an [`AuthService`] (see the [module docs](super)).
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct OtpService {
    auth: AuthService,
    config: OtpConfig,
}

fn too_many(retry_after: Duration) -> AuthError {
    AuthError::Core(helix_core::Error::RateLimited {
        retry_after_secs: u64::try_from(retry_after.num_seconds().max(1)).unwrap_or(1),
    })
}

fn hash_code(salt: &[u8], code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(code.as_bytes());
    h.finalize().into()
}

fn valid_purpose(purpose: &str) -> Result<()> {
    let ok = (1..=40).contains(&purpose.len())
        && purpose.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AuthError::invalid(
            "purpose",
            "invalid",
            "1 to 40 characters of a-z and _",
        ))
    }
}

impl OtpService {
    /// One-time codes with `config` for the accounts of `auth`; codes are delivered through
    /// `auth`'s mail queue ([`crate::AuthServiceBuilder::mail`]).
    pub fn new(auth: AuthService, config: OtpConfig) -> Result<Self> {
        let bad = |m: &str| Err(AuthError::Core(helix_core::Error::Config(m.to_owned())));
        if !(6..=8).contains(&config.code_length) {
            return bad("auth.otp.code_length must be 6 to 8");
        }
        if config.ttl_secs == 0
            || config.max_sends_per_hour == 0
            || config.max_verifies_per_hour == 0
            || config.lock_secs == 0
        {
            return bad(
                "auth.otp: ttl_secs, max_sends_per_hour, max_verifies_per_hour and lock_secs must be at least 1",
            );
        }
        Ok(Self { auth, config })
    }

    /// The configuration.
    pub fn config(&self) -> &OtpConfig {
        &self.config
    }

    async fn begin(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
    ) -> Result<(PlatformTx, account::Model)> {
        let ctx = helix_core::PlatformContext::with_meta(
            Actor::User(account_id),
            std::sync::Arc::new(meta.clone()),
        );
        let tx = self.auth.kernel().db().platform(&ctx).await?;
        let Some(acc) = locked_account(&tx, account::Column::Id.eq(account_id)).await? else {
            tx.rollback().await?;
            return Err(AuthError::AccountNotFound);
        };
        Ok((tx, acc))
    }

    /// Sets the account's phone number (E.164; `VALIDATION_ERROR` on `phone` otherwise). It
    /// is unverified until a [`VERIFY_PHONE`] code sent to it is verified; outstanding
    /// `verify_phone` codes are invalidated. Setting the same number again changes nothing.
    pub async fn set_phone(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
        phone: &str,
    ) -> Result<PhoneStatus> {
        let phone = validate_e164(phone)?;
        let (tx, _) = self.begin(meta, account_id).await?;
        let now = self.auth.kernel().now();
        let current = state::Entity::find_by_id(account_id).one(tx.raw()).await?;
        if let Some(cur) = &current
            && cur.phone.as_deref() == Some(phone.as_str())
        {
            tx.rollback().await?;
            return Ok(PhoneStatus {
                phone: Some(phone),
                verified: cur.phone_verified_at.is_some(),
            });
        }
        match current {
            Some(_) => {
                state::Entity::update_many()
                    .col_expr(state::Column::Phone, Expr::value(phone.clone()))
                    .col_expr(
                        state::Column::PhoneVerifiedAt,
                        Expr::value(None::<DateTime<Utc>>),
                    )
                    .col_expr(state::Column::UpdatedAt, Expr::value(now))
                    .filter(state::Column::AccountId.eq(account_id))
                    .exec(tx.raw())
                    .await?;
            }
            None => {
                state::Entity::insert(state::ActiveModel {
                    account_id: Set(account_id),
                    phone: Set(Some(phone.clone())),
                    phone_verified_at: Set(None),
                    locked_until: Set(None),
                    updated_at: Set(now),
                })
                .exec_without_returning(tx.raw())
                .await?;
            }
        }
        code::Entity::update_many()
            .col_expr(code::Column::UsedAt, Expr::value(now))
            .filter(code::Column::AccountId.eq(account_id))
            .filter(code::Column::Purpose.eq(VERIFY_PHONE))
            .filter(code::Column::UsedAt.is_null())
            .exec(tx.raw())
            .await?;
        self.auth
            .record_event(
                tx.raw(),
                meta,
                Event::new(SecurityEventKind::PhoneChanged).account(account_id),
            )
            .await?;
        tx.commit().await?;
        Ok(PhoneStatus {
            phone: Some(phone),
            verified: false,
        })
    }

    /// The account's phone number and whether it is verified.
    pub async fn phone(&self, account_id: Uuid) -> Result<PhoneStatus> {
        let ctx = helix_core::PlatformContext::new(Actor::User(account_id));
        let tx = self.auth.kernel().db().platform_read(&ctx).await?;
        let row = state::Entity::find_by_id(account_id).one(tx.raw()).await?;
        tx.rollback().await?;
        Ok(PhoneStatus {
            phone: row.as_ref().and_then(|r| r.phone.clone()),
            verified: row.is_some_and(|r| r.phone.is_some() && r.phone_verified_at.is_some()),
        })
    }

    /// Issues a code for `purpose` and queues it to the account over `channel`.
    ///
    /// - `429 RATE_LIMITED` (with the seconds to wait) while the account is locked, or when
    ///   it was sent `max_sends_per_hour` codes within the last hour.
    /// - SMS and WhatsApp need a phone number (`VALIDATION_ERROR` on `channel` otherwise),
    ///   verified unless the purpose is [`VERIFY_PHONE`], which is refused over e-mail.
    pub async fn send(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
        channel: Channel,
        purpose: &str,
    ) -> Result<OtpSent> {
        valid_purpose(purpose)?;
        if purpose == VERIFY_PHONE && channel == Channel::Email {
            return Err(AuthError::invalid(
                "channel",
                "invalid_channel",
                "verify_phone codes go by sms or whatsapp",
            ));
        }
        let (tx, acc) = self.begin(meta, account_id).await?;
        let now = self.auth.kernel().now();
        let st = state::Entity::find_by_id(account_id).one(tx.raw()).await?;
        if let Some(until) = st
            .as_ref()
            .and_then(|s| s.locked_until)
            .filter(|u| *u > now)
        {
            self.refuse(tx, meta, account_id, "locked").await?;
            return Err(too_many(until - now));
        }
        let window = now - Duration::hours(1);
        let recent = code::Entity::find()
            .filter(code::Column::AccountId.eq(account_id))
            .filter(code::Column::CreatedAt.gt(window))
            .order_by_asc(code::Column::CreatedAt)
            .all(tx.raw())
            .await?;
        if recent.len() >= self.config.max_sends_per_hour as usize {
            let oldest = recent.first().map_or(now, |c| c.created_at);
            self.refuse(tx, meta, account_id, "rate_limited").await?;
            return Err(too_many(oldest + Duration::hours(1) - now));
        }
        let destination = match channel {
            Channel::Email => acc.email.clone(),
            Channel::Sms | Channel::WhatsApp => {
                let usable = st.as_ref().and_then(|s| {
                    let verified = s.phone_verified_at.is_some() || purpose == VERIFY_PHONE;
                    s.phone.clone().filter(|_| verified)
                });
                let Some(phone) = usable else {
                    tx.rollback().await?;
                    return Err(AuthError::invalid(
                        "channel",
                        "no_phone",
                        "the account has no verified phone number (PUT /api/v1/auth/phone)",
                    ));
                };
                phone
            }
        };
        let code = self.generate();
        let mut salt = [0u8; 16];
        rand::rng().fill(&mut salt);
        let expires_at =
            now + Duration::seconds(i64::try_from(self.config.ttl_secs).unwrap_or(i64::MAX / 1000));
        code::Entity::insert(code::ActiveModel {
            id: Set(self.auth.kernel().new_id()),
            account_id: Set(account_id),
            purpose: Set(purpose.to_owned()),
            channel: Set(channel.as_str().to_owned()),
            code_hash: Set(hex::encode(hash_code(&salt, code.expose()))),
            salt: Set(hex::encode(salt)),
            expires_at: Set(expires_at),
            used_at: Set(None),
            created_at: Set(now),
        })
        .exec_without_returning(tx.raw())
        .await?;
        self.deliver(&tx, meta, channel, &destination, purpose, &code, expires_at)
            .await?;
        self.auth
            .record_event(
                tx.raw(),
                meta,
                Event::new(SecurityEventKind::OtpSent)
                    .account(account_id)
                    .data(json!({"channel": channel.as_str(), "purpose": purpose})),
            )
            .await?;
        tx.commit().await?;
        Ok(OtpSent {
            code,
            channel,
            expires_at,
        })
    }

    fn generate(&self) -> OneTimeCode {
        let n = self.config.code_length;
        let max = 10u64.pow(n);
        let value = rand::rng().random_range(0..max);
        OneTimeCode::new(format!("{value:0width$}", width = n as usize))
    }

    #[allow(clippy::too_many_arguments)]
    async fn deliver(
        &self,
        tx: &PlatformTx,
        meta: &RequestMeta,
        channel: Channel,
        to: &str,
        purpose: &str,
        code: &OneTimeCode,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let Some(outbox) = self.auth.mail() else {
            return Ok(());
        };
        let now = self.auth.kernel().now();
        match channel {
            Channel::Email => {
                let mail = OutgoingMail::new(ONE_TIME_CODE, to)
                    .data("purpose", purpose)
                    .data("expires_at", expires_at.to_rfc3339())
                    .secret("code", code.expose());
                outbox.queue(tx, &meta.correlation_id, now, mail).await?;
            }
            Channel::Sms | Channel::WhatsApp => {
                let minutes = self.config.ttl_secs / 60;
                let body = zeroize::Zeroizing::new(format!(
                    "{}: your code is {}. It is valid for {minutes} minutes and works once.",
                    self.auth.config().product_name,
                    code.expose()
                ));
                queue_message(
                    outbox.keys(),
                    tx,
                    &meta.correlation_id,
                    now,
                    channel,
                    to,
                    &body,
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn refuse(
        &self,
        tx: PlatformTx,
        meta: &RequestMeta,
        account_id: Uuid,
        reason: &str,
    ) -> Result<()> {
        self.auth
            .record_event(
                tx.raw(),
                meta,
                Event::new(SecurityEventKind::OtpSendRefused)
                    .account(account_id)
                    .data(json!({"reason": reason})),
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Verifies `code` against the newest unused code of `purpose` and uses it up.
    ///
    /// - `422 INVALID_CODE` for a wrong, expired or used code (one answer); the
    ///   `max_verifies_per_hour`-th attempt within an hour that fails locks codes for the
    ///   account for `lock_secs`.
    /// - `429 RATE_LIMITED` while locked (with the seconds to wait), or once the hour's
    ///   attempts are used up (which locks).
    /// - A [`VERIFY_PHONE`] code sent by SMS or WhatsApp marks the phone number verified.
    pub async fn verify(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
        purpose: &str,
        code: &OneTimeCode,
    ) -> Result<()> {
        valid_purpose(purpose)?;
        let (tx, _) = self.begin(meta, account_id).await?;
        let now = self.auth.kernel().now();
        let st = state::Entity::find_by_id(account_id).one(tx.raw()).await?;
        if let Some(until) = st
            .as_ref()
            .and_then(|s| s.locked_until)
            .filter(|u| *u > now)
        {
            self.record(
                &tx,
                meta,
                account_id,
                SecurityEventKind::OtpFailed,
                json!({"reason": "locked", "purpose": purpose}),
            )
            .await?;
            tx.commit().await?;
            return Err(too_many(until - now));
        }
        let attempts = attempt::Entity::find()
            .filter(attempt::Column::AccountId.eq(account_id))
            .filter(attempt::Column::CreatedAt.gt(now - Duration::hours(1)))
            .count(tx.raw())
            .await?;
        let max = u64::from(self.config.max_verifies_per_hour);
        if attempts >= max {
            let until = self.lock(&tx, meta, account_id, st.is_some(), now).await?;
            tx.commit().await?;
            return Err(too_many(until - now));
        }
        let candidate = code::Entity::find()
            .filter(code::Column::AccountId.eq(account_id))
            .filter(code::Column::Purpose.eq(purpose))
            .filter(code::Column::UsedAt.is_null())
            .order_by_desc(code::Column::CreatedAt)
            .one(tx.raw())
            .await?;
        let matched = candidate.filter(|c| {
            let salt = hex::decode(&c.salt).unwrap_or_default();
            let stored = hex::decode(&c.code_hash).unwrap_or_default();
            let given = hash_code(&salt, code.expose());
            c.expires_at > now && bool::from(stored.as_slice().ct_eq(&given))
        });
        attempt::Entity::insert(attempt::ActiveModel {
            id: Set(self.auth.kernel().new_id()),
            account_id: Set(account_id),
            purpose: Set(purpose.to_owned()),
            succeeded: Set(matched.is_some()),
            created_at: Set(now),
        })
        .exec_without_returning(tx.raw())
        .await?;
        let Some(found) = matched else {
            self.record(
                &tx,
                meta,
                account_id,
                SecurityEventKind::OtpFailed,
                json!({"reason": "invalid", "purpose": purpose}),
            )
            .await?;
            if attempts + 1 >= max {
                self.lock(&tx, meta, account_id, st.is_some(), now).await?;
            }
            tx.commit().await?;
            return Err(AuthError::InvalidCode);
        };
        let used = code::Entity::update_many()
            .col_expr(code::Column::UsedAt, Expr::value(now))
            .filter(code::Column::Id.eq(found.id))
            .filter(code::Column::UsedAt.is_null())
            .exec(tx.raw())
            .await?;
        if used.rows_affected != 1 {
            tx.rollback().await?;
            return Err(AuthError::InvalidCode);
        }
        if purpose == VERIFY_PHONE && found.channel != Channel::Email.as_str() {
            state::Entity::update_many()
                .col_expr(state::Column::PhoneVerifiedAt, Expr::value(now))
                .col_expr(state::Column::UpdatedAt, Expr::value(now))
                .filter(state::Column::AccountId.eq(account_id))
                .exec(tx.raw())
                .await?;
        }
        self.record(
            &tx,
            meta,
            account_id,
            SecurityEventKind::OtpVerified,
            json!({"purpose": purpose}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record(
        &self,
        tx: &PlatformTx,
        meta: &RequestMeta,
        account_id: Uuid,
        kind: SecurityEventKind,
        data: serde_json::Value,
    ) -> Result<()> {
        self.auth
            .record_event(
                tx.raw(),
                meta,
                Event::new(kind).account(account_id).data(data),
            )
            .await
    }

    /// Locks codes for the account until `now + lock_secs`; returns that time.
    async fn lock(
        &self,
        tx: &PlatformTx,
        meta: &RequestMeta,
        account_id: Uuid,
        has_state: bool,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>> {
        let until = now
            + Duration::seconds(i64::try_from(self.config.lock_secs).unwrap_or(i64::MAX / 1000));
        if has_state {
            state::Entity::update_many()
                .col_expr(state::Column::LockedUntil, Expr::value(until))
                .col_expr(state::Column::UpdatedAt, Expr::value(now))
                .filter(state::Column::AccountId.eq(account_id))
                .exec(tx.raw())
                .await?;
        } else {
            state::Entity::insert(state::ActiveModel {
                account_id: Set(account_id),
                phone: Set(None),
                phone_verified_at: Set(None),
                locked_until: Set(Some(until)),
                updated_at: Set(now),
            })
            .exec_without_returning(tx.raw())
            .await?;
        }
        self.record(
            tx,
            meta,
            account_id,
            SecurityEventKind::OtpLocked,
            json!({"until": until}),
        )
        .await?;
        Ok(until)
    }
}
