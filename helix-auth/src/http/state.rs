//! [`AuthState`]: what the routes and the extractor need, cheap to clone.

use std::fmt;
use std::sync::Arc;

use helix_core::ratelimit::{LOGIN_IP_QUOTA, Quota, RateLimiter};

use super::mailer::VerificationMailer;
use crate::service::AuthService;
use crate::sessions::SessionService;
use crate::tokens::AccessTokens;

/// The state of the auth routes and of [`super::Authenticated`]. Every part is shared by
/// clones (they are `Arc`s inside), so cloning per request is cheap.
///
/// Put it in the host's application state and implement `FromRef`:
///
/// ```
/// use axum::extract::FromRef;
/// use helix_auth::http::AuthState;
///
/// #[derive(Clone)]
/// struct AppState {
///     auth: AuthState,
///     // the host's own state ...
/// }
///
/// impl FromRef<AppState> for AuthState {
///     fn from_ref(app: &AppState) -> AuthState {
///         app.auth.clone()
///     }
/// }
/// ```
#[derive(Clone)]
pub struct AuthState {
    auth: AuthService,
    tokens: AccessTokens,
    sessions: SessionService,
    limiter: RateLimiter,
    mailer: Arc<dyn VerificationMailer>,
    login_quota: Quota,
}

impl AuthState {
    /// The state from its parts. `limiter` counts login attempts per client IP
    /// ([`LOGIN_IP_QUOTA`]: 10 per minute); give it a Redis-backed store when several server
    /// instances share the load. `mailer` receives the verification tokens.
    pub fn new(
        auth: AuthService,
        tokens: AccessTokens,
        sessions: SessionService,
        limiter: RateLimiter,
        mailer: Arc<dyn VerificationMailer>,
    ) -> Self {
        Self {
            auth,
            tokens,
            sessions,
            limiter,
            mailer,
            login_quota: LOGIN_IP_QUOTA,
        }
    }

    /// Replaces the login quota per client IP (a product may tighten it).
    #[must_use]
    pub fn with_login_quota(mut self, quota: Quota) -> Self {
        self.login_quota = quota;
        self
    }

    /// The account service.
    pub fn auth(&self) -> &AuthService {
        &self.auth
    }

    /// The access-token issuer and verifier.
    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    /// The session service.
    pub fn sessions(&self) -> &SessionService {
        &self.sessions
    }

    /// The rate limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The mailer.
    pub fn mailer(&self) -> &dyn VerificationMailer {
        self.mailer.as_ref()
    }

    /// The login quota per client IP.
    pub fn login_quota(&self) -> Quota {
        self.login_quota
    }
}

impl fmt::Debug for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthState")
            .field("auth", &self.auth)
            .field("tokens", &self.tokens)
            .field("sessions", &self.sessions)
            .field("limiter", &self.limiter)
            .field("login_quota", &self.login_quota)
            .finish_non_exhaustive()
    }
}
