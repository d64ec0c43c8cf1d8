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
//! | `POST /api/v1/auth/login` `{email, password, mode?}` | – | 200 token pair, `Cache-Control: no-store`; with `"mode": "cookie"` the tokens go into cookies instead (see [`cookies`]); with MFA on, 200 `{mfa_required: true, mfa_token, expires_in}` and no session; 401 `INVALID_CREDENTIALS`; 429 after 10/min per IP |
//! | `POST /api/v1/auth/mfa/challenge` `{mfa_token, code \| backup_code}` | – | 200 token pair (`amr` `["pwd","otp"]`), `Cache-Control: no-store`; 401 `INVALID_MFA_CODE` (counts toward the token's 5 attempts and the account lockout) / `INVALID_MFA_TOKEN` (unknown, expired, used, dead); 429 after 10/min per IP |
//! | `POST /api/v1/auth/refresh` `{refresh_token}` or `{}` + refresh cookie | – (cookie: CSRF) | 200 new token pair (cookie mode: new cookies); 401 (reuse revokes the session); 403 `CSRF_FAILED`; 409 `REFRESH_RACE` |
//! | `POST /api/v1/auth/logout` | bearer, access cookie or refresh cookie (CSRF) | 204; clears the cookies in cookie mode; under impersonation, ends it |
//! | `GET /api/v1/auth/me` | bearer | `{account_id, email, email_verified, session_id}` |
//! | `GET /api/v1/auth/sessions` | bearer | `{data: [session]}` |
//! | `DELETE /api/v1/auth/sessions/{id}` | bearer | 204; another account's session is 404; 403 `IMPERSONATION_FORBIDDEN` under impersonation |
//! | `POST /api/v1/auth/sessions/revoke-others` | bearer | `{revoked_sessions}`; 403 `IMPERSONATION_FORBIDDEN` under impersonation |
//! | `POST /api/v1/auth/password` `{current_password, new_password}` | bearer | `{revoked_sessions}` (the other sessions); 403 `IMPERSONATION_FORBIDDEN` under impersonation |
//! | `POST /api/v1/auth/organization` `{org_id}` | bearer | 200 `{access_token, token_type, expires_in, session_id, org_id}`, `Cache-Control: no-store`; 404 for an organization the caller does not belong to; security events `organization_switched` / `organization_switch_refused`; 403 `MFA_REQUIRED` when the organization requires MFA and the session has no second factor |
//! | `POST /api/v1/auth/impersonate` `{account_id, reason}` | bearer (platform support, see [`AuthState::with_platform_roles`]) | 201 `{access_token, token_type, expires_in, expires_at, session_id, account_id, org_id}` (no refresh token; 30 minutes; `act.sub` = caller), `Cache-Control: no-store`; 400 reason missing/blank/too long; 403 `FORBIDDEN` (no role) / `IMPERSONATION_FORBIDDEN` (self, a platform account, from an impersonation session); 404 unknown account |
//! | `DELETE /api/v1/auth/impersonate` | bearer (impersonation session) | 204, the session ends; 404 when the session is not an impersonation |
//! | `GET /api/v1/auth/oidc/{provider}/authorize?redirect_uri=&redirect=` | – | 200 `{authorization_url, expires_at}` (302 to it with `redirect=true`), `Cache-Control: no-store`; 404 unknown provider; 400 `redirect_uri` not allowed; 503 provider unreachable; 429 after 10/min per IP |
//! | `POST /api/v1/auth/oidc/{provider}/link` `{redirect_uri?}` | bearer | 200 `{authorization_url, expires_at}`; its callback links the identity to the caller |
//! | `POST /api/v1/auth/oidc/{provider}/callback` `{code, state}` | – | 200 token pair (as `login`), or `{linked, provider}` after `link`; 422 `OIDC_INVALID_STATE` (unknown, expired, replayed, other provider), `OIDC_EMAIL_REQUIRED`, `OIDC_EMAIL_NOT_VERIFIED`; 401 `OIDC_CODE_REJECTED` (bad code, PKCE mismatch), `OIDC_INVALID_SIGNATURE`, `OIDC_INVALID_AUDIENCE`, `OIDC_INVALID_ISSUER`, `OIDC_TOKEN_EXPIRED`, `OIDC_INVALID_NONCE`, `OIDC_INVALID_ID_TOKEN`; 409 `ACCOUNT_EXISTS_LINK_REQUIRED`, `OIDC_IDENTITY_IN_USE`; 404 unknown provider |
//! | `GET /api/v1/auth/api-keys` | user | `{data: [key]}` of the caller's owner, never a secret; 403 when the host's [`crate::api_keys::ApiKeyOwners`] says the caller may not manage keys |
//! | `POST /api/v1/auth/api-keys` `{name, scopes, expires_at?}` | user | 201 the key with `key` (`hx_...`, shown once), `no-store`; 400 `VALIDATION_ERROR`; 409 `API_KEY_LIMIT` |
//! | `DELETE /api/v1/auth/api-keys/{id}` | user | 204, refused from the next request; 404 for another owner's key |
//! | `GET /api/v1/auth/mfa` | bearer | `{totp, backup_codes_remaining}` |
//! | `POST /api/v1/auth/mfa/totp` | bearer | 200 `{secret, otpauth_uri, qr_svg}` (pending, replaces a pending one), `Cache-Control: no-store`; 409 `MFA_ALREADY_ENABLED` |
//! | `POST /api/v1/auth/mfa/totp/confirm` `{code, password}` | bearer | 200 `{backup_codes}` (10, shown once; the session becomes multi-factor), `Cache-Control: no-store`; 400 wrong code; 409 `MFA_NOT_PENDING` |
//! | `DELETE /api/v1/auth/mfa` `{password, code \| backup_code}` | bearer | 204; 400 wrong password or code; 409 `MFA_NOT_ENABLED` |
//! | `POST /api/v1/auth/mfa/backup-codes` `{password}` | bearer | 200 `{backup_codes}` (10 new, shown once; the old ones die), `Cache-Control: no-store`; 400 wrong password; 409 `MFA_NOT_ENABLED` |
//! | `PUT /api/v1/auth/phone` `{phone}` | bearer | 200 `{phone, verified: false}` (E.164, unverified until a `verify_phone` code is verified); 400 not E.164 |
//! | `GET /api/v1/auth/phone` | bearer | `{phone, verified}` |
//! | `POST /api/v1/auth/otp/send` `{channel, purpose}` | bearer | 202 `{status, channel, expires_at}` (the code goes through the outbox, never in the answer); 400 no (verified) phone; 429 after 3/hour or while locked |
//! | `POST /api/v1/auth/otp/verify` `{purpose, code}` | bearer | 200 `{verified, purpose}`; 422 `INVALID_CODE`; 429 locked 30 min after 5 attempts/hour |
//! | `GET /.well-known/jwks.json` | – | the JWKS |
//!
//! "bearer" and "user" mean an access token, from `Authorization: Bearer` or, with
//! [`AuthState::with_browser_sessions`], the access cookie (state-changing cookie requests
//! need `X-CSRF-Token`: see [`cookies`]). API keys (`Authorization: Bearer hx_...`, with
//! [`AuthState::with_api_keys`]) authenticate the host's tenant routes; every route above
//! refuses them with 403 `USER_REQUIRED`.
//!
//! The one-time-code routes (`phone`, `otp/*`) need [`AuthState::with_otp`]; without it
//! they answer 404.
//!
//! The token pair is `{access_token, token_type: "Bearer", expires_in, refresh_token,
//! refresh_token_expires_at, session_id, org_id}` (`org_id` is the session's active
//! organization, `null` without one; see [`AuthState::with_organizations`]). When that
//! organization requires MFA ([`AuthState::with_mfa_requirement`]) and the session used no
//! second factor, login and refresh leave it out (`org_id: null`) and add
//! `mfa_required_org_id`: enrol and confirm TOTP in that session (which makes it
//! multi-factor), or sign in again with MFA, then switch. The response carries
//! [`helix_core::http::idempotency::NoStore`] so an `Idempotency-Key` retry never replays it.
//! Every error is the standard envelope, including bad JSON (400) and a missing JSON content
//! type (415); messages never echo the request body.
//!
//! [`crate::AuthModule`] does not return this router: `helix_core::Module::router` must return
//! a router with its state applied, which would mean calling `with_state` inside the
//! library. Routing stays with the host, as above.

mod account;
mod api_keys;
pub mod cookies;
mod extract;
mod impersonation;
mod mfa;
mod oidc;
#[cfg(feature = "openapi")]
pub mod openapi;
mod otp;
mod sessions;
mod state;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{delete, get, post, put};

pub use account::{LOGIN_CLASS, PASSWORD_RESET_CLASS, REGISTER_CLASS, RESEND_CLASS};
pub use cookies::{BrowserSessions, CSRF_FAILED, CSRF_HEADER, CookieConfig};
pub use extract::{AuthRejection, Authenticated, Caller, USER_REQUIRED, authenticate};
pub use mfa::MFA_CHALLENGE_CLASS;
pub use oidc::OIDC_CLASS;
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
        .route("/api/v1/auth/mfa", get(mfa::status).delete(mfa::disable))
        .route("/api/v1/auth/mfa/totp", post(mfa::enrol_totp))
        .route("/api/v1/auth/mfa/totp/confirm", post(mfa::confirm_totp))
        .route(
            "/api/v1/auth/mfa/backup-codes",
            post(mfa::regenerate_backup_codes),
        )
        .route("/api/v1/auth/mfa/challenge", post(mfa::challenge))
        .route("/api/v1/auth/sessions", get(sessions::list))
        .route("/api/v1/auth/sessions/{id}", delete(sessions::revoke))
        .route(
            "/api/v1/auth/sessions/revoke-others",
            post(sessions::revoke_others),
        )
        .route(
            "/api/v1/auth/impersonate",
            post(impersonation::start).delete(impersonation::end),
        )
        .route(
            "/api/v1/auth/oidc/{provider}/authorize",
            get(oidc::authorize),
        )
        .route("/api/v1/auth/oidc/{provider}/link", post(oidc::link))
        .route(
            "/api/v1/auth/oidc/{provider}/callback",
            post(oidc::callback),
        )
        .route(
            "/api/v1/auth/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route("/api/v1/auth/api-keys/{id}", delete(api_keys::revoke))
        .route(
            "/api/v1/auth/phone",
            put(otp::set_phone).get(otp::get_phone),
        )
        .route("/api/v1/auth/otp/send", post(otp::send))
        .route("/api/v1/auth/otp/verify", post(otp::verify))
        .route("/.well-known/jwks.json", get(account::jwks))
}
