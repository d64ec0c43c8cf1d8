//! [`AuthService`]: the entry point of every identity operation, built with
//! [`AuthService::builder`].

use std::sync::Arc;

use helix_core::{Actor, Kernel, PlatformContext, RequestMeta};

use crate::config::AuthConfig;
use crate::crypto::KeyRing;
use crate::error::{AuthError, Result};
use crate::mail::{MailOutbox, OutgoingMail};
use crate::oidc::{OidcConfig, OidcProviders};
use crate::passwords::{Password, PasswordHasher, PasswordPolicy};

/// Accounts, passwords and their security events, without HTTP. Cheap to clone.
///
/// Every method runs on the platform plane ([`helix_core::Db::platform`]): identities are not
/// tenant-owned. Each mutation writes its security event (and, for account lifecycle
/// changes, a platform audit entry) in the same transaction as the change.
#[derive(Clone, Debug)]
pub struct AuthService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    kernel: Kernel,
    config: AuthConfig,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
    oidc: Option<OidcProviders>,
    keys: Option<Arc<KeyRing>>,
    mail: Option<MailOutbox>,
    new_sign_in_mail: bool,
}

/// Builds an [`AuthService`]; see [`AuthService::builder`].
#[derive(Debug)]
#[must_use]
pub struct AuthServiceBuilder {
    kernel: Kernel,
    config: AuthConfig,
    hasher: Option<PasswordHasher>,
    oidc: Option<OidcConfig>,
    keys: Option<Arc<KeyRing>>,
    mail: Option<MailOutbox>,
    new_sign_in_mail: bool,
}

impl AuthService {
    /// Starts building a service over `kernel` (database, clock, ids) with `config`.
    pub fn builder(kernel: Kernel, config: AuthConfig) -> AuthServiceBuilder {
        AuthServiceBuilder {
            kernel,
            config,
            hasher: None,
            oidc: None,
            keys: None,
            mail: None,
            new_sign_in_mail: true,
        }
    }

    /// The kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.inner.kernel
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// The password policy.
    pub fn policy(&self) -> &PasswordPolicy {
        &self.inner.policy
    }

    /// The password hasher (shared by clones).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    /// The OpenID Connect providers, when [`AuthServiceBuilder::oidc`] configured some.
    pub(crate) fn oidc_providers(&self) -> Option<&OidcProviders> {
        self.inner.oidc.as_ref()
    }

    /// The key ring that seals TOTP secrets, if one was given to the builder.
    pub fn key_ring(&self) -> Option<&KeyRing> {
        self.inner.keys.as_deref()
    }

    /// The mail queue, if the host connected one ([`AuthServiceBuilder::mail`]).
    pub fn mail(&self) -> Option<&MailOutbox> {
        self.inner.mail.as_ref()
    }

    /// Queues `mail` in `tx` when a mail queue is connected; without one, does nothing (the
    /// caller still gets the token in its outcome).
    pub(crate) async fn queue_mail(
        &self,
        tx: &helix_core::PlatformTx,
        meta: &RequestMeta,
        mail: OutgoingMail,
    ) -> Result<()> {
        if let Some(outbox) = &self.inner.mail {
            outbox
                .queue(tx, &meta.correlation_id, self.kernel().now(), mail)
                .await?;
        }
        Ok(())
    }

    /// Whether a successful sign-in from a new device queues a [`crate::mail::NEW_SIGN_IN`]
    /// mail.
    pub(crate) fn new_sign_in_mail(&self) -> bool {
        self.inner.mail.is_some() && self.inner.new_sign_in_mail
    }

    /// A platform context for `actor` carrying the request's metadata.
    pub(crate) fn platform_ctx(&self, actor: Actor, meta: &RequestMeta) -> PlatformContext {
        PlatformContext::with_meta(actor, Arc::new(meta.clone()))
    }

    /// Runs the policy (zxcvbn is CPU-bound) on the blocking pool.
    pub(crate) async fn check_policy(
        &self,
        field: &'static str,
        password: &Password,
        email: &str,
    ) -> Result<()> {
        let policy = self.inner.policy.clone();
        let password = password.clone();
        let email = email.to_owned();
        tokio::task::spawn_blocking(move || policy.validate_field(field, &password, &email))
            .await
            .map_err(|_| AuthError::Hashing)?
            .map_err(AuthError::Validation)
    }
}

impl AuthServiceBuilder {
    /// Shares an existing hasher (and its concurrency bound) instead of creating one.
    pub fn hasher(mut self, hasher: PasswordHasher) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// Enables sign-in with OpenID Connect providers (see [`crate::oidc`]). The providers
    /// are checked here, without network access: their discovery documents are fetched on
    /// first use, so a provider being down never fails the build.
    pub fn oidc(mut self, config: OidcConfig) -> Self {
        self.oidc = Some(config);
        self
    }

    /// The key ring that encrypts TOTP secrets at rest. Without one, TOTP enrolment and TOTP
    /// challenges fail with a configuration error (500): an enrolled account is never let in
    /// without its second factor (fail closed).
    pub fn key_ring(mut self, keys: Arc<KeyRing>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Queues the account mails (verification, password reset, new sign-in, one-time
    /// codes) through the outbox in the operation's transaction (see [`crate::mail`]).
    /// Without it the service queues nothing and the tokens are only in the outcomes.
    pub fn mail(mut self, outbox: MailOutbox) -> Self {
        self.mail = Some(outbox);
        self
    }

    /// Whether a successful sign-in from a device (IP address and user agent) the account
    /// has not signed in from before queues a "new sign-in" mail (default on; needs
    /// [`AuthServiceBuilder::mail`]).
    pub fn new_sign_in_mail(mut self, on: bool) -> Self {
        self.new_sign_in_mail = on;
        self
    }

    /// Checks the configuration and builds the service. Unless a hasher was given, this
    /// computes one dummy hash on the calling thread (tens of milliseconds at OWASP cost).
    pub fn build(self) -> Result<AuthService> {
        validate(&self.config)?;
        let hasher = match self.hasher {
            Some(h) => h,
            None => PasswordHasher::new(
                self.config.argon2,
                self.config.effective_hashing_concurrency(),
            )?,
        };
        let oidc = self.oidc.map(OidcProviders::new).transpose()?;
        let policy = PasswordPolicy::new(self.config.password.clone(), &self.config.product_name);
        Ok(AuthService {
            inner: Arc::new(Inner {
                kernel: self.kernel,
                config: self.config,
                policy,
                hasher,
                oidc,
                keys: self.keys,
                mail: self.mail,
                new_sign_in_mail: self.new_sign_in_mail,
            }),
        })
    }
}

fn validate(c: &AuthConfig) -> Result<()> {
    let bad = |m: &str| Err(AuthError::Core(helix_core::Error::Config(m.to_owned())));
    let p = &c.password;
    if p.min_length == 0 || p.max_length < p.min_length {
        return bad("auth.password: need 1 <= min_length <= max_length");
    }
    if p.min_classes > 4 || p.min_strength > 4 {
        return bad("auth.password: min_classes and min_strength are at most 4");
    }
    if c.lockout.max_failures == 0 || c.lockout.lock_secs == 0 {
        return bad("auth.lockout: max_failures and lock_secs must be at least 1");
    }
    if c.hashing_concurrency == Some(0) {
        return bad("auth.hashing_concurrency must be at least 1");
    }
    if c.email_verification.token_ttl_secs == 0 || c.email_verification.max_sends_per_hour == 0 {
        return bad(
            "auth.email_verification: token_ttl_secs and max_sends_per_hour must be at least 1",
        );
    }
    if c.mfa.skew_steps > 2 || c.mfa.challenge_ttl_secs == 0 || c.mfa.max_challenge_attempts == 0 {
        return bad(
            "auth.mfa: skew_steps is at most 2; challenge_ttl_secs and max_challenge_attempts must be at least 1",
        );
    }
    if c.password_reset.token_ttl_secs == 0 || c.password_reset.max_requests_per_hour == 0 {
        return bad(
            "auth.password_reset: token_ttl_secs and max_requests_per_hour must be at least 1",
        );
    }
    Ok(())
}
