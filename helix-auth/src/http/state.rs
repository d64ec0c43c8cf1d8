//! [`AuthState`]: what the routes and the extractor need, cheap to clone.

use std::fmt;
use std::sync::Arc;

use helix_core::ratelimit::{LOGIN_IP_QUOTA, Quota, RateLimiter};

use super::mailer::VerificationMailer;
use crate::organizations::OrganizationDirectory;
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
    organizations: Option<Arc<dyn OrganizationDirectory>>,
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
            organizations: None,
        }
    }

    /// Replaces the login quota per client IP (a product may tighten it).
    #[must_use]
    pub fn with_login_quota(mut self, quota: Quota) -> Self {
        self.login_quota = quota;
        self
    }

    /// Connects the host's organizations (see [`OrganizationDirectory`]): login starts the
    /// session in the account's default organization, refresh keeps it,
    /// `POST /api/v1/auth/organization` switches it, and `verify-email` calls
    /// [`OrganizationDirectory::on_email_verified`]. Without it tokens carry no organization.
    #[must_use]
    pub fn with_organizations(mut self, directory: Arc<dyn OrganizationDirectory>) -> Self {
        self.organizations = Some(directory);
        self
    }

    /// The host's organization directory, if one is connected.
    pub fn organizations(&self) -> Option<&dyn OrganizationDirectory> {
        self.organizations.as_deref()
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
            .field("organizations", &self.organizations.is_some())
            .finish_non_exhaustive()
    }
}
