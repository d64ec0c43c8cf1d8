//! Multi-factor authentication: TOTP authenticators (RFC 6238), single-use backup codes,
//! the second step of a login, and the hook through which a tenancy layer can require MFA.
//!
//! The operations are methods of [`crate::AuthService`]:
//!
//! - [`enrol_totp`](crate::AuthService::enrol_totp) issues a pending 160-bit secret (base32,
//!   an `otpauth://` URI and its QR code as SVG); enrolling again replaces a pending secret,
//!   and is refused ([`AuthError::MfaAlreadyEnabled`](crate::AuthError::MfaAlreadyEnabled))
//!   while one is active. [`confirm_totp`](crate::AuthService::confirm_totp) activates it with
//!   a current code and returns [`BACKUP_CODE_COUNT`] backup codes, shown this once.
//! - Login: after the password, [`begin_mfa_challenge`](crate::AuthService::begin_mfa_challenge)
//!   issues an opaque [`MfaToken`] (256 bits, stored as SHA-256, 5 minutes, single use, dead
//!   after 5 wrong codes) when the account has MFA on;
//!   [`complete_mfa_challenge`](crate::AuthService::complete_mfa_challenge) takes it with a
//!   TOTP code or a backup code. Every wrong code also counts toward the account lockout of
//!   login (5 consecutive failures lock it for 15 minutes).
//! - Codes: 6 digits, 30-second steps, one step of skew either way. The newest accepted
//!   step is stored per account: a code of that step or an older one is refused, so a code
//!   works once even within its window.
//! - Disabling ([`disable_mfa`](crate::AuthService::disable_mfa)) and regenerating backup
//!   codes ([`regenerate_backup_codes`](crate::AuthService::regenerate_backup_codes)) require
//!   re-authentication in the request itself: the current password, plus (to disable) a
//!   current TOTP code or a backup code. A stolen access token alone cannot weaken MFA, and
//!   no session state has to record when the user last typed a password.
//! - Secrets at rest: the TOTP secret is sealed by the [`crate::crypto::KeyRing`]
//!   (XChaCha20-Poly1305, context `totp:<account id>`), with the key id stored beside it; a
//!   secret sealed under a retired key still opens and is re-sealed under the active key the
//!   next time it is used. Backup codes have 60 random bits and are stored as SHA-256 over
//!   the account id and the code: a slow hash protects guessable secrets (passwords), while
//!   2^60 guesses per code are out of reach offline and online guessing is bounded by the
//!   MFA token's 5 attempts and the account lockout. MFA tokens are 256-bit and stored as
//!   SHA-256, like refresh tokens.
//! - Secrets never reach a log line or a `Debug` output: [`TotpEnrolment`], [`BackupCode`],
//!   [`MfaToken`] and [`totp::TotpSecret`] redact themselves.
//!
//! How a session authenticated is recorded with it and carried by its access tokens as the
//! RFC 8176 `amr` claim (`["pwd"]`, `["pwd", "otp"]`; see [`crate::tokens::AuthMethods`]).
//! [`MfaRequirement`] lets the host (a tenancy layer) require MFA per organization.

mod backup;
mod challenge;
mod enrol;
pub mod entity;
mod requirement;
pub mod totp;

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::tokens::AuthMethods;
use zeroize::Zeroizing;

pub use backup::{BACKUP_CODE_COUNT, BackupCode};
pub use requirement::{MFA_POLICY_CHANNEL, MfaPolicy, MfaRequirement, NoMfaRequirement};

/// A pending TOTP enrolment, to show the user once. `Debug` redacts every field (each one
/// contains the secret).
#[derive(Clone)]
pub struct TotpEnrolment {
    /// The secret in base32, for manual entry.
    pub secret: Zeroizing<String>,
    /// The `otpauth://totp/...` URI.
    pub otpauth_uri: Zeroizing<String>,
    /// The URI's QR code, an SVG document.
    pub qr_svg: Zeroizing<String>,
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrolment([redacted])")
    }
}

/// Whether an account has MFA on, and how many backup codes it has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaStatus {
    /// A confirmed TOTP authenticator.
    pub totp: bool,
    /// Unused backup codes.
    pub backup_codes_remaining: u32,
}

/// The second factor presented to a challenge or a re-authentication.
#[derive(Clone)]
pub enum MfaProof {
    /// A 6-digit TOTP code.
    Totp(Zeroizing<String>),
    /// A backup code (separators, spaces and case ignored).
    BackupCode(Zeroizing<String>),
}

impl MfaProof {
    /// A TOTP code.
    pub fn totp(code: impl Into<String>) -> Self {
        Self::Totp(Zeroizing::new(code.into()))
    }

    /// A backup code.
    pub fn backup_code(code: impl Into<String>) -> Self {
        Self::BackupCode(Zeroizing::new(code.into()))
    }

    fn method(&self) -> &'static str {
        match self {
            Self::Totp(_) => "totp",
            Self::BackupCode(_) => "backup_code",
        }
    }
}

impl fmt::Debug for MfaProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MfaProof::{}([redacted])", self.method())
    }
}

/// The opaque token of a login waiting for its second factor: 256 random bits, base64url.
/// Only its SHA-256 is stored. `Debug` redacts it; it is wiped on drop.
#[derive(Clone)]
pub struct MfaToken(Zeroizing<String>);

impl MfaToken {
    /// A token as presented by a client.
    pub fn new(token: impl Into<String>) -> Self {
        Self(Zeroizing::new(token.into()))
    }

    /// The token to hand to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MfaToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaToken([redacted])")
    }
}

/// A login's MFA challenge: the token and when it expires.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    /// The account whose password was verified.
    pub account_id: Uuid,
    /// The token, for the client (once).
    pub token: MfaToken,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// What the first step of a sign-in asked for, remembered with its MFA challenge so that
/// completing the challenge signs in the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstStep {
    /// The first factor: [`AuthMethods::PASSWORD`] or [`AuthMethods::FEDERATED`].
    pub factor: AuthMethods,
    /// Whether a browser session (cookies and a CSRF token) was asked for.
    pub browser: bool,
}

impl FirstStep {
    /// A password, tokens in the body (what [`crate::AuthService::begin_mfa_challenge`]
    /// assumes).
    pub const PASSWORD: Self = Self {
        factor: AuthMethods::PASSWORD,
        browser: false,
    };

    /// A first step with `factor`, tokens in the body.
    pub const fn new(factor: AuthMethods) -> Self {
        Self {
            factor,
            browser: false,
        }
    }

    /// The same, asking for a browser session when `browser` is true.
    #[must_use]
    pub const fn browser(mut self, browser: bool) -> Self {
        self.browser = browser;
        self
    }

    /// The RFC 8176 name stored with the challenge (`fed` or `pwd`).
    pub(crate) fn factor_name(self) -> &'static str {
        if self.factor.contains(AuthMethods::FEDERATED) {
            "fed"
        } else {
            "pwd"
        }
    }

    /// The first step a stored challenge row describes (unknown names read as `pwd`).
    pub(crate) fn from_stored(factor: &str, browser: bool) -> Self {
        let factor = if factor == "fed" {
            AuthMethods::FEDERATED
        } else {
            AuthMethods::PASSWORD
        };
        Self { factor, browser }
    }
}

/// A passed MFA challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaVerified {
    /// The authenticated account.
    pub account_id: Uuid,
    /// Whether a backup code (rather than a TOTP code) was used.
    pub used_backup_code: bool,
    /// Backup codes left.
    pub backup_codes_remaining: u32,
    /// What the first step asked for.
    pub first_step: FirstStep,
}

impl MfaVerified {
    /// How the user authenticated: the first factor and `otp` (`["pwd", "otp"]` after a
    /// password, `["otp", "fed"]` after an OpenID Connect provider).
    pub fn amr(&self) -> AuthMethods {
        self.first_step.factor.with(AuthMethods::OTP)
    }
}
