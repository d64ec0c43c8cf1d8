//! HTTP: the auth routes under `/api/v1/auth/`, the JWKS, and the [`Authenticated`]
//! extractor (feature `http`, on by default).
//!
//! Helix composes, it does not own `main`: [`router`] returns a `Router<S>` for the host's
//! own state `S`, which only has to give an [`AuthState`] through `FromRef`. The library
//! never calls `with_state`; the host does, once, on its whole application:
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//!
//! use axum::Router;
//! use axum::extract::FromRef;
//! use axum::middleware::from_fn_with_state;
//! use helix_auth::crypto::{EncryptionKeyConfig, KeyRing};
//! use helix_auth::http::AuthState;
//! use helix_auth::mail::MailOutbox;
//! use helix_auth::sessions::{SessionConfig, SessionService};
//! use helix_auth::tokens::{AccessTokenConfig, AccessTokens, SigningKeyConfig, SigningKeys};
//! use helix_auth::{AuthConfig, AuthService};
//! use helix_core::http::{HttpMetrics, request_context};
//! use helix_core::ratelimit::{InMemoryStore, RateLimiter};
//! use helix_core::{Kernel, SystemClock};
//!
//! #[derive(Clone)]
//! struct AppState {
//!     auth: AuthState,
//! }
//!
//! impl FromRef<AppState> for AuthState {
//!     fn from_ref(app: &AppState) -> AuthState {
//!         app.auth.clone()
//!     }
//! }
//!
//! # async fn demo(kernel: Kernel) -> Result<(), Box<dyn std::error::Error>> {
//! let keys = SigningKeys::from_config(&SigningKeyConfig::generate("k1"), &[])?;
//! let tokens = AccessTokens::new(
//!     keys,
//!     AccessTokenConfig::new("https://id.example.com", "example-api"),
//!     Arc::new(SystemClock),
//! )?;
//! // Mails are queued through the outbox; a `MailSubscriber` on the host's dispatcher sends them.
//! let keys = Arc::new(KeyRing::from_config(&EncryptionKeyConfig::generate("k1"), &[])?);
//! let service = AuthService::builder(kernel.clone(), AuthConfig::default())
//!     .mail(MailOutbox::new(keys))
//!     .build()?;
//! let auth = AuthState::new(
//!     service,
//!     tokens,
//!     SessionService::new(kernel, SessionConfig::default())?,
//!     RateLimiter::new(InMemoryStore::new()),
//! );
//! let app = Router::new()
//!     .merge(helix_auth::http::router())
//!     .with_state(AppState { auth })
//!     .layer(from_fn_with_state(Arc::new(HttpMetrics::new()), request_context));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! Install `helix_core::http::request_context` outermost (correlation id, client IP for the
//! login limit, spans) and serve with `ConnectInfo<SocketAddr>`. To let middleware such as
//! idempotency or rate limits see the principal, add [`authenticate`] between them and
//! `request_context`.
//!
//! | Route | Auth | Answer |
//! |---|---|---|
//! | `POST /api/v1/auth/register` `{email, password}` | – | 202, same body whether or not the email exists; the verification mail is queued in the outbox (see [`crate::mail`]); 429 after 10/min per IP |
//! | `POST /api/v1/auth/verify-email` `{token}` | – | 200 `{email_verified}` / 422 `INVALID_VERIFICATION_TOKEN` |
//! | `POST /api/v1/auth/resend-verification` `{email}` | – | always 202; 429 after 10/min per IP |
//! | `POST /api/v1/auth/password-reset` `{email}` | – | always 200 (same body whether or not the email exists or is over its 3/hour); the reset mail is queued in the outbox; 429 after 10/min per IP |
//! | `POST /api/v1/auth/password-reset/confirm` `{token, new_password}` | – | 200 `{password_reset, revoked_sessions}` (every session revoked); 400 policy/reuse; 422 `INVALID_RESET_TOKEN` |
//! | `POST /api/v1/auth/login` `{email, password}` | – | 200 token pair, `Cache-Control: no-store`; 401 `INVALID_CREDENTIALS`; 429 after 10/min per IP |
//! | `POST /api/v1/auth/refresh` `{refresh_token}` | – | 200 new token pair; 401 (reuse revokes the session); 409 `REFRESH_RACE` |
//! | `POST /api/v1/auth/logout` | bearer | 204 |
//! | `GET /api/v1/auth/me` | bearer | `{account_id, email, email_verified, session_id}` |
//! | `GET /api/v1/auth/sessions` | bearer | `{data: [session]}` |
//! | `DELETE /api/v1/auth/sessions/{id}` | bearer | 204; another account's session is 404 |
//! | `POST /api/v1/auth/sessions/revoke-others` | bearer | `{revoked_sessions}` |
//! | `POST /api/v1/auth/password` `{current_password, new_password}` | bearer | `{revoked_sessions}` (the other sessions) |
//! | `POST /api/v1/auth/organization` `{org_id}` | bearer | 200 `{access_token, token_type, expires_in, session_id, org_id}`, `Cache-Control: no-store`; 404 for an organization the caller does not belong to |
//! | `PUT /api/v1/auth/phone` `{phone}` | bearer | 200 `{phone, verified: false}` (E.164, unverified until a `verify_phone` code is verified); 400 not E.164 |
//! | `GET /api/v1/auth/phone` | bearer | `{phone, verified}` |
//! | `POST /api/v1/auth/otp/send` `{channel, purpose}` | bearer | 202 `{status, channel, expires_at}` (the code goes through the outbox, never in the answer); 400 no (verified) phone; 429 after 3/hour or while locked |
//! | `POST /api/v1/auth/otp/verify` `{purpose, code}` | bearer | 200 `{verified, purpose}`; 422 `INVALID_CODE`; 429 locked 30 min after 5 attempts/hour |
//! | `GET /.well-known/jwks.json` | – | the JWKS |
//!
//! The one-time-code routes (`phone`, `otp/*`) need [`AuthState::with_otp`]; without it
//! they answer 404.
//!
//! The token pair is `{access_token, token_type: "Bearer", expires_in, refresh_token,
//! refresh_token_expires_at, session_id, org_id}` (`org_id` is the session's active
//! organization, `null` without one; see [`AuthState::with_organizations`]); the response carries
//! [`helix_core::http::idempotency::NoStore`] so an `Idempotency-Key` retry never replays it.
//! Every error is the standard envelope, including bad JSON (400) and a missing JSON content
//! type (415); messages never echo the request body.
//!
//! [`crate::AuthModule`] does not return this router: `helix_core::Module::router` must return
//! a router with its state applied, which would mean calling `with_state` inside the
//! library. Routing stays with the host, as above.

mod account;
mod extract;
#[cfg(feature = "openapi")]
pub mod openapi;
mod otp;
mod sessions;
mod state;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{delete, get, post, put};

pub use account::{LOGIN_CLASS, PASSWORD_RESET_CLASS, REGISTER_CLASS, RESEND_CLASS};
pub use extract::{AuthRejection, Authenticated, authenticate};
pub use state::{ANONYMOUS_IP_QUOTA, AuthState};

/// The auth routes (see the [module docs](self) for the table), for any host state `S` that
/// yields an [`AuthState`]. Merge it into the host's router and apply the state there.
pub fn router<S>() -> Router<S>
where
    AuthState: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/v1/auth/register", post(account::register))
        .route("/api/v1/auth/verify-email", post(account::verify_email))
        .route(
            "/api/v1/auth/resend-verification",
            post(account::resend_verification),
        )
        .route("/api/v1/auth/password-reset", post(account::password_reset))
        .route(
            "/api/v1/auth/password-reset/confirm",
            post(account::confirm_password_reset),
        )
        .route("/api/v1/auth/login", post(account::login))
        .route("/api/v1/auth/refresh", post(account::refresh))
        .route("/api/v1/auth/logout", post(account::logout))
        .route("/api/v1/auth/me", get(account::me))
        .route("/api/v1/auth/password", post(account::change_password))
        .route(
            "/api/v1/auth/organization",
            post(account::switch_organization),
        )
        .route("/api/v1/auth/sessions", get(sessions::list))
        .route("/api/v1/auth/sessions/{id}", delete(sessions::revoke))
        .route(
            "/api/v1/auth/sessions/revoke-others",
            post(sessions::revoke_others),
        )
        .route(
            "/api/v1/auth/phone",
            put(otp::set_phone).get(otp::get_phone),
        )
        .route("/api/v1/auth/otp/send", post(otp::send))
        .route("/api/v1/auth/otp/verify", post(otp::verify))
        .route("/.well-known/jwks.json", get(account::jwks))
}
