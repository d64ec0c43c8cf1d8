//! The caller's verified e-mail address, from the [`VerifiedEmail`] request extension.
//!
//! Creating an organization records the owner's e-mail, and accepting an invitation compares
//! the caller's e-mail with the invitation's: both need the address of the authenticated
//! principal, so both take it from the extension that the host's authentication glue inserts,
//! never from the request body. Without it the request is a 403 `EMAIL_NOT_VERIFIED`.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use helix_core::context::current_correlation_id;
use helix_core::{Error, ErrorEnvelope, VerifiedEmail};

/// The code of the 403 answered when the caller has no verified e-mail address.
pub const EMAIL_NOT_VERIFIED: &str = "EMAIL_NOT_VERIFIED";

/// The authenticated caller's verified e-mail address.
#[derive(Debug, Clone)]
pub(crate) struct CallerEmail(pub VerifiedEmail);

impl CallerEmail {
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// The rejection of [`CallerEmail`]: 403 `EMAIL_NOT_VERIFIED` in the standard envelope.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmailNotVerified;

impl IntoResponse for EmailNotVerified {
    fn into_response(self) -> Response {
        let correlation_id =
            current_correlation_id().unwrap_or_else(helix_core::ids::new_v7_string);
        let err = Error::Forbidden("a verified e-mail address is required".into());
        let mut envelope = ErrorEnvelope::from_error(&err, correlation_id);
        EMAIL_NOT_VERIFIED.clone_into(&mut envelope.error.code);
        (StatusCode::FORBIDDEN, Json(envelope)).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CallerEmail {
    type Rejection = EmailNotVerified;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, EmailNotVerified> {
        parts
            .extensions
            .get::<VerifiedEmail>()
            .cloned()
            .map(Self)
            .ok_or(EmailNotVerified)
    }
}
