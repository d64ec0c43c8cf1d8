//! The glue that tells helix-tenancy the caller's verified e-mail address: [`verified_email`],
//! a middleware that runs after `helix_auth::http::authenticate` and inserts
//! [`VerifiedEmail`] into the request extensions.
//!
//! helix-tenancy takes the caller's e-mail from that extension, never from the request body
//! (`POST /api/v1/organizations` records it on the owner membership;
//! `POST /api/v1/invitations/accept` compares it with the invitation's), and answers 403
//! `EMAIL_NOT_VERIFIED` without it. helix-tenancy does not depend on helix-auth, so the
//! server connects them here.
//!
//! The access token does not carry the e-mail, so inserting it costs an account lookup. To
//! keep every other request free of that query, the middleware only looks the account up for
//! the routes that read the extension ([`needs_verified_email`]); a new route that needs it
//! must be added there.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use helix_auth::{AuthError, AuthService};
use helix_core::{RequestContext, VerifiedEmail};

/// The routes that read [`VerifiedEmail`]: only for these is the account looked up.
pub const ROUTES_NEEDING_VERIFIED_EMAIL: [&str; 2] =
    ["/api/v1/organizations", "/api/v1/invitations/accept"];

/// Whether the request is one of the [`ROUTES_NEEDING_VERIFIED_EMAIL`] (all `POST`).
pub fn needs_verified_email(method: &Method, path: &str) -> bool {
    method == Method::POST && ROUTES_NEEDING_VERIFIED_EMAIL.contains(&path)
}

/// Inserts the authenticated user's [`VerifiedEmail`] on the routes that need it, when the
/// account's e-mail is verified. Anonymous callers, API keys, unverified addresses and unknown
/// accounts get no extension (the route then answers 401 or 403); a failed lookup is a 500.
///
/// Install it inside `authenticate` (an earlier `.layer(...)` call), so it sees the actor.
pub async fn verified_email(
    State(auth): State<AuthService>,
    mut req: Request,
    next: Next,
) -> Response {
    if !needs_verified_email(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let user = req
        .extensions()
        .get::<RequestContext>()
        .and_then(|ctx| ctx.actor.user_id());
    if let Some(user) = user {
        match auth.account(user).await {
            Ok(account) if account.email_verified => {
                req.extensions_mut().insert(VerifiedEmail(account.email));
            }
            Ok(_) | Err(AuthError::AccountNotFound) => {}
            Err(err) => return helix_core::Error::from(err).into_response(),
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_post_routes_need_the_email() {
        assert!(needs_verified_email(&Method::POST, "/api/v1/organizations"));
        assert!(needs_verified_email(
            &Method::POST,
            "/api/v1/invitations/accept"
        ));
        assert!(!needs_verified_email(&Method::GET, "/api/v1/organizations"));
        assert!(!needs_verified_email(&Method::POST, "/api/v1/invitations"));
        assert!(!needs_verified_email(
            &Method::PATCH,
            "/api/v1/organization"
        ));
    }
}
