//! Sign in with OpenID Connect: any issuer by discovery, presets for Google and Microsoft,
//! authorization code flow with PKCE (S256), `state` and `nonce`.
//!
//! - [`crate::AuthService::oidc_authorize`] starts an attempt: a 256-bit `state` whose
//!   SHA-256 is stored with the provider name, a salt and a 10-minute expiry; the nonce and
//!   the PKCE verifier are derived from state and salt (never stored). It answers the
//!   provider's authorization URL. The provider's discovery document and keys are fetched
//!   on first use and cached ([`OidcConfig::discovery_ttl_secs`]); a provider that is down
//!   answers 503 for its own sign-ins and never blocks the boot.
//! - [`crate::AuthService::oidc_callback`] consumes the attempt (single use, bound to the
//!   provider), redeems the code with the verifier, verifies the ID token (signature, `iss`,
//!   `aud`, `exp`, `nonce`) and resolves the account:
//!   1. an identity (`iss` + `sub`, table `auth_external_identities`) already linked signs
//!      in to its account;
//!   2. an attempt started by a signed-in user ([`crate::AuthService::oidc_link`]) links the
//!      identity to that account;
//!   3. an e-mail that matches an existing account links to it only when the provider
//!      asserts `email_verified = true`, the provider's `link_verified_email` is on, and the
//!      account's own address is verified; otherwise the answer is
//!      `ACCOUNT_EXISTS_LINK_REQUIRED` (never a silent merge);
//!   4. otherwise a new, password-less account is created (its e-mail verified when the
//!      provider asserts it; when verification is required and the provider does not
//!      assert it, `OIDC_EMAIL_NOT_VERIFIED` and nothing is created).
//!
//! Every outcome is a security event (`oidc_*` kinds). A password-less account cannot log
//! in with a password (the login does the same dummy argon2 work and answers
//! `INVALID_CREDENTIALS`); a password reset through its verified mailbox may give it one.

mod attempt;
mod config;
pub mod entity;
mod error;
mod provider;
mod signin;

use std::fmt;

use chrono::{DateTime, Utc};

pub use config::{ClientSecret, OidcConfig, OidcPreset, OidcProviderConfig};
pub use error::OidcError;
pub(crate) use provider::OidcProviders;

use crate::accounts::AuthenticatedAccount;

/// The start of a sign-in: where to send the browser. `Debug` leaves out the URL (it
/// carries the attempt's `state`).
#[derive(Clone)]
pub struct OidcAuthorization {
    /// The provider's authorization URL, with `state`, `nonce` and the PKCE challenge.
    pub authorization_url: String,
    /// When the attempt stops working.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for OidcAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcAuthorization")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How a callback resolved the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcOutcome {
    /// A linked identity signed in to its account.
    SignedIn,
    /// A new account was created for the identity.
    AccountCreated,
    /// The identity was linked to an existing account by its verified e-mail (provider
    /// policy `link_verified_email`), and signed in.
    LinkedByEmail,
    /// The identity was linked to the signed-in user who started the attempt
    /// ([`crate::AuthService::oidc_link`]); no sign-in.
    Linked,
}

/// What [`crate::AuthService::oidc_callback`] did.
#[derive(Debug, Clone)]
pub struct OidcSignIn {
    /// The account signed in to (or linked).
    pub account: AuthenticatedAccount,
    /// How it was resolved.
    pub outcome: OidcOutcome,
    /// The provider name.
    pub provider: String,
}
