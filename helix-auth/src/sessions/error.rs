//! Session errors, with stable codes.

use thiserror::Error;

/// Why a session operation failed. Refusals of a refresh token or session answer 401 and say
/// no more than their code; no variant carries token material.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The refresh token is unknown, malformed or expired.
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    /// The refresh token was rotated a moment ago by a concurrent request (within the grace
    /// window). Nothing was revoked: use the token that request received.
    #[error("the refresh token was just rotated by a concurrent request")]
    RefreshRace,
    /// A refresh token was used again after its rotation: the whole session was revoked.
    #[error("the refresh token was reused; the session has been revoked")]
    RefreshReused,
    /// The session reached its idle timeout or absolute lifetime.
    #[error("the session has expired")]
    SessionExpired,
    /// The session was revoked.
    #[error("the session has been revoked")]
    SessionRevoked,
    /// Impersonation sessions cannot be refreshed.
    #[error("this session cannot be renewed")]
    NotRenewable,
    /// No such session (or not the caller's).
    #[error("session not found")]
    NotFound,
    /// A kernel error (database, configuration), passed through.
    #[error(transparent)]
    Core(#[from] helix_core::Error),
}

impl SessionError {
    /// The stable code (`REFRESH_RACE`, `SESSION_EXPIRED`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRefreshToken => "INVALID_REFRESH_TOKEN",
            Self::RefreshRace => "REFRESH_RACE",
            Self::RefreshReused => "REFRESH_TOKEN_REUSED",
            Self::SessionExpired => "SESSION_EXPIRED",
            Self::SessionRevoked => "SESSION_REVOKED",
            Self::NotRenewable => "SESSION_NOT_RENEWABLE",
            Self::NotFound => "NOT_FOUND",
            Self::Core(e) => e.code(),
        }
    }
}

impl From<sea_orm::DbErr> for SessionError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Core(helix_core::Error::Database(err))
    }
}

impl From<SessionError> for helix_core::Error {
    /// Token and session refusals become the kernel's 401 (`UNAUTHORIZED`): the client must
    /// sign in again, and learns nothing more. `REFRESH_RACE` is a 409 with its own code:
    /// the client should retry with the token the concurrent request received.
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::RefreshRace => helix_core::Error::conflict(
                "REFRESH_RACE",
                "the refresh token was just rotated by a concurrent request",
            ),
            SessionError::NotFound => helix_core::Error::not_found("session"),
            SessionError::Core(e) => e,
            SessionError::InvalidRefreshToken
            | SessionError::RefreshReused
            | SessionError::SessionExpired
            | SessionError::SessionRevoked
            | SessionError::NotRenewable => helix_core::Error::Unauthorized,
        }
    }
}
