//! [`AuthState`]: what the routes and the extractor need, cheap to clone.

use std::fmt;
use std::sync::Arc;

use helix_core::ratelimit::{LOGIN_IP_QUOTA, Quota, RateLimiter};

/// The default quota per client IP of the anonymous routes that mail or hash
/// (`register`, `resend-verification`, `password-reset`): 10 per minute, burst 10.
pub const ANONYMOUS_IP_QUOTA: Quota = Quota::per_minute(10);
use super::cookies::BrowserSessions;
use crate::api_keys::{ApiKeyOwners, ApiKeyService, RefusedKeyLimit};
use crate::impersonation::{ImpersonationService, NoPlatformRoles, PlatformRoles};
use crate::mfa::{MfaRequirement, NoMfaRequirement};
use crate::organizations::OrganizationDirectory;
use crate::otp::OtpService;
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
    login_quota: Quota,
    register_quota: Quota,
    resend_quota: Quota,
    password_reset_quota: Quota,
    organizations: Option<Arc<dyn OrganizationDirectory>>,
    impersonation: ImpersonationService,
    api_keys: Option<(ApiKeyService, Arc<dyn ApiKeyOwners>)>,
    api_key_refusals: RefusedKeyLimit,
    browser: Option<BrowserSessions>,
    mfa_requirement: Arc<dyn MfaRequirement>,
    otp: Option<OtpService>,
}

impl AuthState {
    /// The state from its parts. `limiter` counts, per client IP, login attempts
    /// ([`LOGIN_IP_QUOTA`]: 10 per minute) and registrations, verification resends and
    /// password-reset requests ([`ANONYMOUS_IP_QUOTA`] each: 10 per minute); give it a Redis-backed store when several server
    /// instances share the load. The verification and reset mails are queued by `auth`
    /// itself, in the operation's transaction: build it with
    /// [`crate::AuthServiceBuilder::mail`] (without a mail queue the routes mail nothing).
    pub fn new(
        auth: AuthService,
        tokens: AccessTokens,
        sessions: SessionService,
        limiter: RateLimiter,
    ) -> Self {
        let impersonation =
            ImpersonationService::new(auth.clone(), sessions.clone(), Arc::new(NoPlatformRoles));
        if auth.mail().is_none() {
            tracing::warn!(
                "the auth routes have no mail queue: verification and password-reset mails are not sent"
            );
        }
        Self {
            auth,
            tokens,
            sessions,
            limiter,
            login_quota: LOGIN_IP_QUOTA,
            register_quota: ANONYMOUS_IP_QUOTA,
            resend_quota: ANONYMOUS_IP_QUOTA,
            password_reset_quota: ANONYMOUS_IP_QUOTA,
            organizations: None,
            impersonation,
            api_keys: None,
            api_key_refusals: RefusedKeyLimit::default(),
            browser: None,
            mfa_requirement: Arc::new(NoMfaRequirement),
            otp: None,
        }
    }

    /// Connects the host's platform roles (see [`PlatformRoles`]): who may
    /// `POST /api/v1/auth/impersonate`. Without it nobody may impersonate.
    #[must_use]
    pub fn with_platform_roles(mut self, roles: Arc<dyn PlatformRoles>) -> Self {
        self.impersonation =
            ImpersonationService::new(self.auth.clone(), self.sessions.clone(), roles);
        self
    }

    /// The impersonation service.
    pub fn impersonation(&self) -> &ImpersonationService {
        &self.impersonation
    }

    /// Replaces the login quota per client IP (a product may tighten it).
    #[must_use]
    pub fn with_login_quota(mut self, quota: Quota) -> Self {
        self.login_quota = quota;
        self
    }

    /// Replaces the registration quota per client IP (class [`super::REGISTER_CLASS`]).
    #[must_use]
    pub fn with_register_quota(mut self, quota: Quota) -> Self {
        self.register_quota = quota;
        self
    }

    /// Replaces the verification-resend quota per client IP (class [`super::RESEND_CLASS`]).
    #[must_use]
    pub fn with_resend_quota(mut self, quota: Quota) -> Self {
        self.resend_quota = quota;
        self
    }

    /// Replaces the password-reset request quota per client IP (class
    /// [`super::PASSWORD_RESET_CLASS`]). The per-account limit (3 per hour) is separate:
    /// see [`crate::config::PasswordResetConfig`].
    #[must_use]
    pub fn with_password_reset_quota(mut self, quota: Quota) -> Self {
        self.password_reset_quota = quota;
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

    /// Enables API keys: `Authorization: Bearer hx_...` authenticates as the key (actor
    /// [`helix_core::Actor::ApiKey`], organization from `owners`), and the management routes
    /// `/api/v1/auth/api-keys` work for users whom `owners` lets manage keys. Without it,
    /// API keys are refused (401 `INVALID_API_KEY`) and the management routes answer 404.
    #[must_use]
    pub fn with_api_keys(mut self, keys: ApiKeyService, owners: Arc<dyn ApiKeyOwners>) -> Self {
        self.api_keys = Some((keys, owners));
        self
    }

    /// The API-key service and the host's owner mapping, if enabled.
    pub fn api_keys(&self) -> Option<(&ApiKeyService, &dyn ApiKeyOwners)> {
        self.api_keys.as_ref().map(|(k, o)| (k, o.as_ref()))
    }

    /// Replaces the quota of refused API keys per client IP (class
    /// [`crate::api_keys::API_KEY_REFUSAL_CLASS`], default
    /// [`crate::api_keys::API_KEY_REFUSAL_QUOTA`]: 10 per minute). Past it, API keys from
    /// that address answer 429 with `Retry-After` (see [`RefusedKeyLimit`]).
    #[must_use]
    pub fn with_api_key_refusal_quota(mut self, quota: Quota) -> Self {
        self.api_key_refusals = RefusedKeyLimit::new(quota);
        self
    }

    /// The limit on refused API keys per client IP.
    pub fn api_key_refusals(&self) -> &RefusedKeyLimit {
        &self.api_key_refusals
    }

    /// Enables browser sessions: `"mode": "cookie"` at login, the access cookie as a
    /// credential, and CSRF checks (see [`BrowserSessions`]). Without it, cookie mode is a
    /// 400 and cookies are ignored.
    #[must_use]
    pub fn with_browser_sessions(mut self, browser: BrowserSessions) -> Self {
        self.browser = Some(browser);
        self
    }

    /// Browser-session support, if enabled.
    pub fn browser_sessions(&self) -> Option<&BrowserSessions> {
        self.browser.as_ref()
    }

    /// Connects the host's MFA policy per organization (see [`MfaRequirement`]): a session
    /// without a second factor gets no token for an organization that requires one (login
    /// and refresh leave the organization out and say so in `mfa_required_org_id`; switching
    /// answers 403 `MFA_REQUIRED`). Without it no organization requires MFA.
    #[must_use]
    pub fn with_mfa_requirement(mut self, requirement: Arc<dyn MfaRequirement>) -> Self {
        self.mfa_requirement = requirement;
        self
    }

    /// The host's MFA policy per organization.
    pub fn mfa_requirement(&self) -> &dyn MfaRequirement {
        self.mfa_requirement.as_ref()
    }

    /// Enables the one-time-code routes (`PUT/GET /api/v1/auth/phone`,
    /// `POST /api/v1/auth/otp/send`, `POST /api/v1/auth/otp/verify`).
    #[must_use]
    pub fn with_otp(mut self, otp: OtpService) -> Self {
        self.otp = Some(otp);
        self
    }

    /// The one-time-code service, if enabled.
    pub fn otp(&self) -> Option<&OtpService> {
        self.otp.as_ref()
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

    /// The login quota per client IP.
    pub fn login_quota(&self) -> Quota {
        self.login_quota
    }

    /// The registration quota per client IP.
    pub fn register_quota(&self) -> Quota {
        self.register_quota
    }

    /// The verification-resend quota per client IP.
    pub fn resend_quota(&self) -> Quota {
        self.resend_quota
    }

    /// The password-reset request quota per client IP.
    pub fn password_reset_quota(&self) -> Quota {
        self.password_reset_quota
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
            .field("register_quota", &self.register_quota)
            .field("resend_quota", &self.resend_quota)
            .field("password_reset_quota", &self.password_reset_quota)
            .field("organizations", &self.organizations.is_some())
            .field("api_keys", &self.api_keys.as_ref().map(|(k, _)| k))
            .field("api_key_refusals", &self.api_key_refusals)
            .field("browser", &self.browser)
            .field("otp", &self.otp.is_some())
            .finish_non_exhaustive()
    }
}
