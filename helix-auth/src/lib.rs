//! # helix-auth
//!
//! Identity for Helix products, usable alone on top of `helix-core` (no tenancy, no business
//! crate): accounts with email and password, the password policy, argon2id hashing on a
//! bounded blocking pool, email verification, login with lockout, and a security event for
//! every outcome. Sessions and signed tokens live in [`sessions`] and [`tokens`].
//!
//! - [`AuthService::register`] validates the email and the [`PasswordPolicy`] (12–128
//!   characters, 3 of 4 character classes, an offline zxcvbn strength check that knows the
//!   email and product name) and answers the same [`RegisterOutcome`] shape whether or not
//!   the email already exists; a new account gets a 24-hour single-use
//!   [`VerificationToken`] (stored hashed) for the host to mail.
//! - [`AuthService::login`] answers `INVALID_CREDENTIALS` for an unknown email, a wrong
//!   password and a locked account alike, after the same argon2 work (a dummy verification
//!   when needed); 5 consecutive failures lock the account for 15 minutes; answers are
//!   delayed progressively after failures; hashes made with old parameters are replaced.
//! - [`AuthService::change_password`] requires the current password and refuses the last 5.
//! - [`AuthService::request_password_reset`] answers the same shape whether or not the
//!   email exists and issues at most 3 one-hour single-use [`PasswordResetToken`]s per hour
//!   per account (stored hashed); [`AuthService::reset_password`] applies the policy and the
//!   history, clears the lockout and revokes every session of the account.
//! - [`mail`]: transactional e-mail queued through the outbox in the operation's transaction
//!   (secrets sealed with [`crypto::KeyRing`]), rendered from templates and sent by a
//!   subscriber of the host's dispatcher over SMTP, files or memory
//!   ([`AuthServiceBuilder::mail`]).
//! - [`otp`]: one-time codes over e-mail, SMS and WhatsApp (3 sends and 5 verifications per
//!   hour, then a 30-minute lock).
//! - Passwords are [`Password`] values (redacted `Debug`, zeroed on drop); no password,
//!   token or hash is ever logged.
//!
//! - [`ImpersonationService`] lets platform support act as a user (explicit reason,
//!   30-minute session that cannot be renewed, the actor in the token's `act` claim and in
//!   every audit row); who may is decided by the host's [`PlatformRoles`].
//! - [`AuthService::oidc_authorize`] and [`AuthService::oidc_callback`] sign in with any
//!   OpenID Connect provider (authorization code + PKCE, `state` and `nonce`), linking an
//!   external identity to an account only under the rules of [`oidc`].
//!
//! Every table is platform-plane: on PostgreSQL only the platform role can read it.
//!
//! With the `http` feature (on by default), [`http`] adds the JSON routes under
//! `/api/v1/auth/` and `/.well-known/jwks.json`, generic over the host's state
//! (`pub fn router<S>() -> Router<S> where AuthState: FromRef<S>`), and the
//! [`http::Authenticated`] extractor. Mount them in the host:
//! `Router::new().merge(helix_auth::http::router()).with_state(app_state)`.
//! [`AuthModule`] only registers migrations: the kernel's `Module::router` must return a
//! router with its state applied, and the library never calls `with_state`.
//!
//! ```no_run
//! use helix_auth::{AuthConfig, AuthModule, AuthService, Password, RegistrationMail};
//! use helix_core::{Db, Helix, Kernel, PoolOptions, RequestMeta};
//!
//! # async fn demo() -> Result<(), helix_core::Error> {
//! let db = Db::connect("sqlite:./helix.db", &PoolOptions::default()).await?;
//! Helix::builder(db.clone()).module(AuthModule).build().await?; // runs the migrations
//! let auth = AuthService::builder(Kernel::new(db), AuthConfig::default()).build()?;
//!
//! let meta = RequestMeta::new_internal();
//! let password = Password::new("plum-Tractor-91-oasis");
//! let outcome = auth.register(&meta, "Ada@Example.com", &password).await?;
//! if let RegistrationMail::Verify(mail) = outcome.mail {
//!     // Mail `mail.token.expose()` to `mail.email`; the link comes back here:
//!     auth.verify_email(&meta, &mail.token).await?;
//! }
//! let account = auth.login(&meta, "ada@example.com", &password).await?;
//! assert_eq!(account.email, "ada@example.com");
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod accounts;
pub mod api_keys;
pub mod config;
pub mod crypto;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod impersonation;
pub mod mail;
pub mod mfa;
pub mod migrations;
pub mod oidc;
pub mod organizations;
pub mod otp;
pub mod passwords;
mod service;
pub mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;

pub use accounts::{
    AccountProfile, AuthenticatedAccount, PasswordResetDone, PasswordResetMail,
    PasswordResetOutcome, PasswordResetToken, RegisterOutcome, RegistrationMail, ResendOutcome,
    SecurityEvent, SecurityEventKind, VerificationMail, VerificationToken,
};
pub use config::{
    Argon2Config, AuthConfig, EmailVerificationConfig, LockoutConfig, MfaConfig,
    PasswordPolicyConfig, PasswordResetConfig,
};
pub use error::{AuthError, Result};
pub use impersonation::{ImpersonationService, NoPlatformRoles, PlatformRoles};
pub use mfa::{MFA_POLICY_CHANNEL, MfaPolicy, MfaProof, MfaRequirement, MfaStatus, MfaToken};
pub use organizations::OrganizationDirectory;
pub use passwords::{Password, PasswordHasher, PasswordPolicy, Verification};
pub use service::{AuthService, AuthServiceBuilder};

/// The name the module registers under.
pub const MODULE_NAME: &str = "helix-auth";

/// The auth module: registers helix-auth's migrations with the [`helix_core::Helix`]
/// builder. Depends on nothing but the kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthModule;

impl helix_core::Module for AuthModule {
    fn name(&self) -> &'static str {
        MODULE_NAME
    }

    fn migrations(&self) -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
        migrations::migrations()
    }
}
