//! The one error type of the kernel and its JSON envelope.
//!
//! Every crate has its own `thiserror` enum and converts it into [`Error`]; the HTTP layer
//! turns an [`Error`] into the envelope
//! `{"error": {"code", "message", "details", "correlation_id", "timestamp"}}`.
//! Database and internal errors never reach the client: they answer a generic message with
//! the correlation id, and are logged once, at the boundary.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// A problem with one input field, reported in the `details` of a 400 or 422.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field, in the request's own naming (`filter[email]`, `slug`).
    pub field: String,
    /// A stable machine-readable code (`required`, `too_long`, `unknown_field`).
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// A field error from its three parts.
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The kernel error. Each variant has a stable code ([`Error::code`]) and an HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input failed validation; `details` names each offending field.
    #[error("validation failed")]
    Validation {
        /// One entry per offending field.
        details: Vec<FieldError>,
    },
    /// The request is malformed in a way not tied to one field.
    #[error("{0}")]
    BadRequest(Cow<'static, str>),
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthorized,
    /// Authentication failed for a reason the client may know (`INVALID_CREDENTIALS`,
    /// `EMAIL_NOT_VERIFIED`): a 401 with a specific code.
    #[error("{message}")]
    AuthenticationFailed {
        /// A stable, specific code.
        code: &'static str,
        /// A human-readable explanation.
        message: Cow<'static, str>,
    },
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    /// The caller is known but may not do this, for a reason the client may match on
    /// (`IMPERSONATION_FORBIDDEN`, `INVITATION_EMAIL_MISMATCH`): a 403 with a specific code.
    #[error("{message}")]
    PermissionDenied {
        /// A stable, specific code.
        code: &'static str,
        /// A human-readable explanation.
        message: Cow<'static, str>,
    },
    /// The resource does not exist (or belongs to another tenant: same answer).
    #[error("{resource} not found")]
    NotFound {
        /// What was looked for (`organization`, `invitation`).
        resource: &'static str,
    },
    /// The request conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// A stable, specific code (`SLUG_TAKEN`, `LAST_OWNER`).
        code: &'static str,
        /// A human-readable explanation.
        message: Cow<'static, str>,
    },
    /// The request is well formed but cannot be processed (`Idempotency-Key` reuse).
    #[error("{message}")]
    Unprocessable {
        /// A stable, specific code.
        code: &'static str,
        /// A human-readable explanation.
        message: Cow<'static, str>,
    },
    /// The request body is larger than allowed.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request body has a content type the endpoint does not accept.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Too many requests; retry after the given number of seconds.
    #[error("too many requests")]
    RateLimited {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// A required dependency (the database) is unavailable.
    #[error("service unavailable")]
    Unavailable,
    /// Configuration or composition is wrong (missing module, bad setting).
    #[error("configuration error: {0}")]
    Config(String),
    /// A database error. Its text is logged, never returned to clients.
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
    /// Any other internal failure. Its text is logged, never returned to clients.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for results with the kernel error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A validation error with a single field detail.
    pub fn invalid(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Validation {
            details: vec![FieldError::new(field, code, message)],
        }
    }

    /// A not-found error for `resource`.
    pub fn not_found(resource: &'static str) -> Self {
        Self::NotFound { resource }
    }

    /// A conflict with a specific code.
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A 403 with a specific code ([`Error::PermissionDenied`]).
    pub fn forbidden(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::PermissionDenied {
            code,
            message: message.into(),
        }
    }

    /// An internal error from any error value.
    pub fn internal(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(source))
    }

    /// An internal error from a message (for invariants that do not carry a source).
    pub fn internal_msg(message: impl Into<String>) -> Self {
        Self::Internal(message.into().into())
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "VALIDATION_ERROR",
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::PermissionDenied { code, .. }
            | Self::AuthenticationFailed { code, .. } => code,
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
            Self::Config(_) | Self::Database(_) | Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::Validation { .. } | Self::BadRequest(_) => 400,
            Self::Unauthorized | Self::AuthenticationFailed { .. } => 401,
            Self::Forbidden(_) | Self::PermissionDenied { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::Conflict { .. } => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unprocessable { .. } => 422,
            Self::RateLimited { .. } => 429,
            Self::Unavailable => 503,
            Self::Config(_) | Self::Database(_) | Self::Internal(_) => 500,
        }
    }

    /// The message shown to clients: generic for server-side failures.
    pub fn public_message(&self) -> String {
        match self {
            Self::Config(_) | Self::Database(_) | Self::Internal(_) => {
                "an internal error occurred; quote the correlation id when reporting it".into()
            }
            other => other.to_string(),
        }
    }

    /// The field details, if any.
    pub fn details(&self) -> &[FieldError] {
        match self {
            Self::Validation { details } => details,
            _ => &[],
        }
    }

    /// Whether this is a server-side failure (logged at the boundary).
    pub fn is_server_error(&self) -> bool {
        self.status() >= 500
    }

    /// Whether this database error is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Self::Database(e) => is_unique_violation(e),
            _ => false,
        }
    }
}

/// Whether a database error is a unique-constraint violation, on either backend.
pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// The body of the error envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable code (`VALIDATION_ERROR`, `NOT_FOUND`, ...).
    pub code: String,
    /// Human-readable message; generic for server errors.
    pub message: String,
    /// Field-level details (may be empty).
    pub details: Vec<FieldError>,
    /// The request's correlation id.
    pub correlation_id: String,
    /// When the error was produced (RFC 3339, UTC).
    pub timestamp: String,
}

/// The one JSON error envelope: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

impl ErrorEnvelope {
    /// Builds the envelope for `err` with the given correlation id.
    pub fn from_error(err: &Error, correlation_id: impl Into<String>) -> Self {
        Self {
            error: ErrorBody {
                code: err.code().to_owned(),
                message: err.public_message(),
                details: err.details().to_vec(),
                correlation_id: correlation_id.into(),
                timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            },
        }
    }
}

#[cfg(feature = "http")]
mod http_impl {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Response};

    use super::{Error, ErrorEnvelope};
    use crate::context::current_correlation_id;

    impl IntoResponse for Error {
        fn into_response(self) -> Response {
            let correlation_id = current_correlation_id().unwrap_or_else(crate::ids::new_v7_string);
            if self.is_server_error() {
                // Logged once, here, with the source chain; the client only sees the code.
                tracing::error!(
                    correlation_id = %correlation_id,
                    error.code = self.code(),
                    error.detail = %error_chain(&self),
                    "request failed"
                );
            }
            let status =
                StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let envelope = ErrorEnvelope::from_error(&self, correlation_id);
            let mut response = (status, axum::Json(envelope)).into_response();
            if let Error::RateLimited { retry_after_secs } = self
                && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
    }

    fn error_chain(err: &Error) -> String {
        use std::error::Error as _;
        let mut out = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            out.push_str(": ");
            out.push_str(&s.to_string());
            source = s.source();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_text() {
        let err = Error::Database(sea_orm::DbErr::Custom("password=hunter2".into()));
        let env = ErrorEnvelope::from_error(&err, "c1");
        assert_eq!(env.error.code, "INTERNAL_ERROR");
        assert!(!env.error.message.contains("hunter2"));
        assert_eq!(err.status(), 500);
    }

    #[test]
    fn validation_carries_details() {
        let err = Error::invalid("slug", "too_long", "at most 63 characters");
        assert_eq!(err.status(), 400);
        assert_eq!(err.details()[0].field, "slug");
    }

    #[test]
    fn permission_denied_keeps_its_code() {
        let err = Error::forbidden("IMPERSONATION_FORBIDDEN", "not during impersonation");
        assert_eq!((err.status(), err.code()), (403, "IMPERSONATION_FORBIDDEN"));
        assert_eq!(err.public_message(), "not during impersonation");
    }
}
