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
    /// The one-time code is wrong, expired or already used (one answer).
    #[error("the code is invalid or has expired")]
    InvalidCode,
    /// The account does not exist (only for calls naming an account id, which the caller
    /// got from authentication).
    #[error("account not found")]
    AccountNotFound,
    /// Hashing failed or the blocking pool is gone. Details are logged, never returned.
    #[error("password hashing failed")]
    Hashing,
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
            Self::InvalidCode => "INVALID_CODE",
            Self::AccountNotFound => "NOT_FOUND",
            Self::Hashing => "INTERNAL_ERROR",
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
            AuthError::AccountNotFound => Self::not_found("account"),
            AuthError::Hashing => Self::internal_msg("password hashing failed"),
            AuthError::Core(inner) => inner,
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
        let e: helix_core::Error = AuthError::Hashing.into();
        assert_eq!(e.status(), 500);
    }
}
