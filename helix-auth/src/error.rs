//! [`AuthError`]: the one error type of helix-auth, with stable codes, and its conversion
//! into [`helix_core::Error`].

use helix_core::FieldError;

/// Everything an identity operation can fail with.
///
/// Each variant has a stable code ([`AuthError::code`]). Messages never contain passwords,
/// tokens, hashes, emails or database/crypto error text.
///
/// Login answers [`AuthError::InvalidCredentials`] for an unknown email, a wrong password and
/// a locked account alike, so the answer never reveals whether an account exists or is
/// locked. [`AuthError::EmailNotVerified`] is only answered after the correct password was
/// presented: whoever sees it already proved they know the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Input failed validation (email shape, password policy); each detail names the field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Login failed: unknown email, wrong password or locked account (one answer).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The password is correct but the email address is not verified yet.
    #[error("the email address has not been verified")]
    EmailNotVerified,
    /// The verification token is unknown, expired or already used (one answer).
    #[error("the verification link is invalid or has expired")]
    InvalidVerificationToken,
    /// The password-reset token is unknown, expired, already used or invalidated (one
    /// answer).
    #[error("the password reset link is invalid or has expired")]
    InvalidResetToken,
    /// The presented API key is malformed, unknown, wrong, revoked or expired (one answer).
    #[error("invalid API key")]
    InvalidApiKey,
    /// The one-time code is wrong, expired or already used (one answer).
    #[error("the code is invalid or has expired")]
    InvalidCode,
    /// The account does not exist (only for calls naming an account id, which the caller
    /// got from authentication).
    #[error("account not found")]
    AccountNotFound,
    /// The caller may not do this (for example impersonate users without the platform
    /// role): a 403 `FORBIDDEN`.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Not allowed under impersonation, or not allowed to impersonate this account (itself,
    /// a platform account): a 403 `IMPERSONATION_FORBIDDEN`.
    #[error("{0}")]
    ImpersonationForbidden(&'static str),
    /// The session is not an impersonation session (ending one): a 404.
    #[error("no impersonation session to end")]
    NotImpersonating,
    /// The MFA token of a login is unknown, expired, used, or dead after too many wrong
    /// codes (one answer).
    #[error("the MFA token is invalid or has expired; sign in again")]
    InvalidMfaToken,
    /// The TOTP or backup code presented to an MFA challenge is wrong or was already used.
    #[error("the code is not valid")]
    InvalidMfaCode,
    /// The account already has an active TOTP authenticator (disable it first).
    #[error("multi-factor authentication is already enabled")]
    MfaAlreadyEnabled,
    /// The account has no pending TOTP enrolment to confirm.
    #[error("there is no pending TOTP enrolment; start one first")]
    MfaNotPending,
    /// The account has no active multi-factor authentication.
    #[error("multi-factor authentication is not enabled")]
    MfaNotEnabled,
    /// Hashing failed or the blocking pool is gone. Details are logged, never returned.
    #[error("password hashing failed")]
    Hashing,
    /// An OpenID Connect sign-in failed (see [`crate::oidc::OidcError`] for the codes).
    #[error(transparent)]
    Oidc(#[from] crate::oidc::OidcError),
    /// A kernel error (database, configuration), passed through.
    #[error(transparent)]
    Core(#[from] helix_core::Error),
}

/// Shorthand for results with [`AuthError`].
pub type Result<T, E = AuthError> = std::result::Result<T, E>;

impl AuthError {
    /// A validation error with one field detail.
    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "VALIDATION_ERROR",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::InvalidVerificationToken => "INVALID_VERIFICATION_TOKEN",
            Self::InvalidResetToken => "INVALID_RESET_TOKEN",
            Self::AccountNotFound | Self::NotImpersonating => "NOT_FOUND",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::ImpersonationForbidden(_) => "IMPERSONATION_FORBIDDEN",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::InvalidMfaToken => "INVALID_MFA_TOKEN",
            Self::InvalidMfaCode => "INVALID_MFA_CODE",
            Self::MfaAlreadyEnabled => "MFA_ALREADY_ENABLED",
            Self::MfaNotPending => "MFA_NOT_PENDING",
            Self::MfaNotEnabled => "MFA_NOT_ENABLED",
            Self::InvalidCode => "INVALID_CODE",
            Self::Hashing => "INTERNAL_ERROR",
            Self::Oidc(e) => e.code(),
            Self::Core(e) => e.code(),
        }
    }
}

impl From<sea_orm::DbErr> for AuthError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Core(helix_core::Error::Database(err))
    }
}

impl From<AuthError> for helix_core::Error {
    /// `INVALID_CREDENTIALS` is a 401 with that code and one fixed message, whatever the
    /// reason (unknown e-mail, wrong password, locked account).
    fn from(err: AuthError) -> Self {
        let code = err.code();
        match err {
            AuthError::Validation(details) => Self::Validation { details },
            AuthError::InvalidCredentials => Self::AuthenticationFailed {
                code,
                message: "invalid email or password".into(),
            },
            AuthError::InvalidApiKey => Self::AuthenticationFailed {
                code,
                message: "invalid API key".into(),
            },
            AuthError::AccountNotFound => Self::not_found("account"),
            AuthError::NotImpersonating => Self::not_found("impersonation session"),
            AuthError::Forbidden(message) => Self::Forbidden(message.into()),
            AuthError::ImpersonationForbidden(message) => Self::forbidden(code, message),
            other @ (AuthError::InvalidMfaToken | AuthError::InvalidMfaCode) => {
                Self::AuthenticationFailed {
                    code,
                    message: other.to_string().into(),
                }
            }
            other @ (AuthError::MfaAlreadyEnabled
            | AuthError::MfaNotPending
            | AuthError::MfaNotEnabled) => Self::Conflict {
                code,
                message: other.to_string().into(),
            },
            AuthError::Hashing => Self::internal_msg("password hashing failed"),
            AuthError::Core(inner) => inner,
            AuthError::Oidc(e) => e.into(),
            other @ (AuthError::EmailNotVerified
            | AuthError::InvalidVerificationToken
            | AuthError::InvalidResetToken
            | AuthError::InvalidCode) => Self::Unprocessable {
                code,
                message: other.to_string().into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_survive_conversion() {
        let e: helix_core::Error = AuthError::InvalidCredentials.into();
        assert_eq!((e.code(), e.status()), ("INVALID_CREDENTIALS", 401));
        let e: helix_core::Error = AuthError::EmailNotVerified.into();
        assert_eq!((e.code(), e.status()), ("EMAIL_NOT_VERIFIED", 422));
        let e: helix_core::Error = AuthError::InvalidResetToken.into();
        assert_eq!((e.code(), e.status()), ("INVALID_RESET_TOKEN", 422));
        let e: helix_core::Error = AuthError::invalid("password", "too_short", "x").into();
        assert_eq!(e.details()[0].code, "too_short");
        let e: helix_core::Error = AuthError::ImpersonationForbidden("no").into();
        assert_eq!((e.code(), e.status()), ("IMPERSONATION_FORBIDDEN", 403));
        let e: helix_core::Error = AuthError::Forbidden("no").into();
        assert_eq!((e.code(), e.status()), ("FORBIDDEN", 403));
        let e: helix_core::Error = AuthError::InvalidApiKey.into();
        assert_eq!((e.code(), e.status()), ("INVALID_API_KEY", 401));
        let e: helix_core::Error = AuthError::Hashing.into();
        assert_eq!(e.status(), 500);
    }
}
