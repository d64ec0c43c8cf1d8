//! The tenancy HTTP API (feature `http`): organizations, members, teams and invitations
//! under `/api/v1`, JSON in snake_case, errors in the standard envelope.
//!
//! [`router`] is generic over the host's state: anything from which a [`TenancyService`]
//! can be taken with [`FromRef`]. It never calls `with_state`; the host merges it into its
//! own router, installs `helix_core::http::request_context` (outermost), authentication
//! (which sets the actor and the active organization of the
//! [`RequestContext`](helix_core::RequestContext)) and, if wanted, the idempotency
//! middleware.
//!
//! `POST /organizations` and `POST /invitations/accept` also need the caller's e-mail
//! address: they read it from the [`VerifiedEmail`](helix_core::VerifiedEmail) request
//! extension, which the host's authentication glue inserts for a principal whose address is
//! verified, never from the body. Without it they answer 403 [`EMAIL_NOT_VERIFIED`].
//!
//! Routes are thin: they extract the caller ([`Tenant`](helix_core::http::Tenant) or
//! [`Principal`](helix_core::http::Principal)), call the service and map the result. The
//! service enforces the organization roles: a non-member, or a record of another
//! organization, is a 404; a member whose role is insufficient a 403.
//!
//! | Method | Path | Who |
//! |---|---|---|
//! | `GET`, `PATCH` | `/api/v1/organization` | members read; owners and admins update `name`, `plan`, `settings` |
//! | `POST` | `/api/v1/organizations` | any signed-in user with a verified e-mail (platform path; becomes the owner); without `region` the service's default region ([`TenancyService::with_default_region`]) |
//! | `GET`, `POST` | `/api/v1/members` | members list; owners and admins add |
//! | `GET`, `PATCH`, `DELETE` | `/api/v1/members/{user_id}` | members read; owners and admins change roles and remove (anyone removes themselves) |
//! | `GET`, `POST` | `/api/v1/teams` | members list; owners and admins create |
//! | `GET`, `PATCH`, `DELETE` | `/api/v1/teams/{id}` | members read; owners and admins change |
//! | `GET` | `/api/v1/teams/{id}/members` | members |
//! | `PUT`, `DELETE` | `/api/v1/teams/{id}/members/{user_id}` | owners and admins |
//! | `GET`, `POST` | `/api/v1/invitations` | owners and admins; `POST` returns the token once |
//! | `GET` | `/api/v1/invitations/{id}` | owners and admins |
//! | `POST` | `/api/v1/invitations/{id}/revoke`, `/api/v1/invitations/{id}/resend` | owners and admins; resend returns a new token |
//! | `POST` | `/api/v1/invitations/accept` | any signed-in user whose verified e-mail is the invitation's (platform path) |
//!
//! With the `openapi` feature, `openapi::TenancyApi` describes these routes (OpenAPI 3.1)
//! for the host to merge into its document.
//!
//! ```
//! use axum::Router;
//! use axum::extract::FromRef;
//! use helix_tenancy::TenancyService;
//!
//! #[derive(Clone)]
//! struct AppState {
//!     tenancy: TenancyService,
//! }
//!
//! impl FromRef<AppState> for TenancyService {
//!     fn from_ref(state: &AppState) -> Self {
//!         state.tenancy.clone()
//!     }
//! }
//!
//! fn app(state: AppState) -> Router {
//!     Router::new().merge(helix_tenancy::http::router()).with_state(state)
//! }
//! ```

mod email;
mod invitations;
mod members;
#[cfg(feature = "openapi")]
pub mod openapi;
mod organizations;
mod teams;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post, put};

use crate::TenancyService;

pub use email::EMAIL_NOT_VERIFIED;

/// The tenancy routes under `/api/v1`, for any state that holds a [`TenancyService`].
pub fn router<S>() -> Router<S>
where
    TenancyService: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/api/v1/organization",
            get(organizations::get).patch(organizations::update),
        )
        .route("/api/v1/organizations", post(organizations::create))
        .route("/api/v1/members", get(members::list).post(members::add))
        .route(
            "/api/v1/members/{user_id}",
            get(members::get)
                .patch(members::change_role)
                .delete(members::remove),
        )
        .route("/api/v1/teams", get(teams::list).post(teams::create))
        .route(
            "/api/v1/teams/{id}",
            get(teams::get).patch(teams::update).delete(teams::delete),
        )
        .route("/api/v1/teams/{id}/members", get(teams::list_members))
        .route(
            "/api/v1/teams/{id}/members/{user_id}",
            put(teams::put_member).delete(teams::remove_member),
        )
        .route(
            "/api/v1/invitations",
            get(invitations::list).post(invitations::create),
        )
        .route("/api/v1/invitations/accept", post(invitations::accept))
        .route("/api/v1/invitations/{id}", get(invitations::get))
        .route("/api/v1/invitations/{id}/revoke", post(invitations::revoke))
        .route("/api/v1/invitations/{id}/resend", post(invitations::resend))
}
