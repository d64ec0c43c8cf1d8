//! Accounts: registration, email verification, login with lockout, password change and
//! reset, and
//! the security events every outcome leaves.
//!
//! The operations are methods of [`crate::AuthService`]; this module holds their inputs,
//! outcomes and tables.

mod email;
pub mod entity;
pub(crate) mod events;
mod login;
mod password_change;
mod password_reset;
mod profile;
mod register;
mod token;
mod verification;

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub(crate) use email::email_key;
pub use email::normalize_email;
pub use entity::security_event::Model as SecurityEvent;
pub(crate) use events::Event;
pub use events::SecurityEventKind;
pub use token::{PasswordResetToken, VerificationToken};

/// What [`crate::AuthService::register`] did. The HTTP answer must be the same whatever the
/// variant (for example `202 Accepted`, "check your inbox"): only the mail differs.
/// `Debug` leaves out the email (no full email in a log line).
#[derive(Clone)]
pub struct RegisterOutcome {
    /// The normalized (trimmed, lowercased) email.
    pub email: String,
    /// What the host should send to that address.
    pub mail: RegistrationMail,
}

/// The email the host sends after a registration.
#[derive(Debug, Clone)]
pub enum RegistrationMail {
    /// A new account was created: send it this verification link.
    Verify(VerificationMail),
    /// The email already had an account: nothing was created, a security event was
    /// recorded. The host may send a "someone tried to sign up with your address" notice.
    AlreadyRegistered,
}

/// A verification token for the host to mail. The token is shown only here (it is stored
/// hashed) and never logged; `Debug` redacts the token and leaves out the email.
#[derive(Clone)]
pub struct VerificationMail {
    /// The new (or existing) account.
    pub account_id: Uuid,
    /// Where to send it.
    pub email: String,
    /// The secret token, to put in the link.
    pub token: VerificationToken,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
}

impl VerificationMail {
    /// The [`crate::mail::VERIFICATION`] mail carrying this token (sealed in the outbox).
    pub fn outgoing(&self) -> crate::mail::OutgoingMail {
        crate::mail::OutgoingMail::new(crate::mail::VERIFICATION, &self.email)
            .data("expires_at", self.expires_at.to_rfc3339())
            .secret("token", self.token.expose())
    }
}

impl PasswordResetMail {
    /// The [`crate::mail::PASSWORD_RESET`] mail carrying this token (sealed in the outbox).
    pub fn outgoing(&self) -> crate::mail::OutgoingMail {
        crate::mail::OutgoingMail::new(crate::mail::PASSWORD_RESET, &self.email)
            .data("expires_at", self.expires_at.to_rfc3339())
            .secret("token", self.token.expose())
    }
}

/// What [`crate::AuthService::resend_verification`] did. `None` when the email is unknown,
/// already verified, or over the send limit: the caller answers the same either way.
#[derive(Debug, Clone)]
pub struct ResendOutcome {
    /// The mail to send, if any.
    pub mail: Option<VerificationMail>,
}

impl fmt::Debug for RegisterOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterOutcome")
            .field("mail", &self.mail)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for VerificationMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationMail")
            .field("account_id", &self.account_id)
            .field("token", &self.token)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What [`crate::AuthService::request_password_reset`] did. `None` when the email is
/// unknown or over the request limit: the caller answers the same either way.
#[derive(Debug, Clone)]
pub struct PasswordResetOutcome {
    /// The mail to send, if any.
    pub mail: Option<PasswordResetMail>,
}

/// A password-reset token for the host to mail. The token is shown only here (it is stored
/// hashed) and never logged; `Debug` redacts the token and leaves out the email.
#[derive(Clone)]
pub struct PasswordResetMail {
    /// The account whose password the token resets.
    pub account_id: Uuid,
    /// Where to send it.
    pub email: String,
    /// The secret token, to put in the link.
    pub token: PasswordResetToken,
    /// When the token stops working (1 hour after issue by default).
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for PasswordResetMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordResetMail")
            .field("account_id", &self.account_id)
            .field("token", &self.token)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What [`crate::AuthService::reset_password`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordResetDone {
    /// The account whose password was reset.
    pub account_id: Uuid,
    /// How many of its sessions were revoked (all that were active).
    pub revoked_sessions: u64,
}

/// A successfully authenticated account. `Debug` leaves out the email.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthenticatedAccount {
    /// The account id.
    pub account_id: Uuid,
    /// The normalized email.
    pub email: String,
    /// Whether the email is verified (always true when verification is required).
    pub email_verified: bool,
    /// The previous successful login, if any.
    pub previous_login_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for AuthenticatedAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedAccount")
            .field("account_id", &self.account_id)
            .field("email_verified", &self.email_verified)
            .field("previous_login_at", &self.previous_login_at)
            .finish_non_exhaustive()
    }
}

/// An account's public facts, as [`crate::AuthService::account`] reads them. `Debug` leaves
/// out the email.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountProfile {
    /// The account id.
    pub account_id: Uuid,
    /// The normalized email.
    pub email: String,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for AccountProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountProfile")
            .field("account_id", &self.account_id)
            .field("email_verified", &self.email_verified)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// The account matching `cond`, locked for the rest of `tx` (`FOR UPDATE` on PostgreSQL;
/// SQLite has no row locks, and its write transaction already serializes writers, so the
/// clause is dropped there). Concurrent requests for one account queue instead of racing
/// past per-account limits and lockout counters.
pub(crate) async fn locked_account(
    tx: &helix_core::PlatformTx,
    cond: impl sea_orm::sea_query::IntoCondition,
) -> crate::error::Result<Option<entity::account::Model>> {
    use sea_orm::{EntityTrait, QueryFilter, QuerySelect};
    Ok(entity::account::Entity::find()
        .filter(cond)
        .lock_exclusive()
        .one(tx.raw())
        .await?)
}
