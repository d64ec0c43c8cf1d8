//! API keys for system-to-system access.
//!
//! A key is `hx_<key id>_<secret>`: the prefix makes it recognisable (secret scanners, the
//! request authenticator), the id (32 hex digits of a UUID v7) finds its row without a scan,
//! and the secret is 256 random bits in base64url. It is shown to its creator once
//! ([`ApiKeySecret`]); the database keeps only `HMAC-SHA256(server key, id || secret)`
//! ([`HmacKey`], configured by the host), compared in constant time. A stolen database alone
//! therefore cannot be used to check guesses.
//!
//! A key belongs to an opaque *owner reference* chosen by the host (the reference server
//! uses `org:<uuid>`: helix-auth does not know tenancy), has a name, a non-empty set of
//! `resource:action` scopes, an optional expiry, a last-used time (written at most once per
//! [`ApiKeyConfig::last_used_interval_secs`] per key, not on every request) and can be
//! revoked, which takes effect on the next request (every use reads the key's row).
//!
//! [`ApiKeyService::resolve`] turns a presented key into an [`ApiKeyPrincipal`] (key id,
//! owner, scopes); a malformed, unknown, wrong, revoked or expired key is one answer,
//! [`crate::AuthError::InvalidApiKey`] (401 `INVALID_API_KEY`), and every refusal is a
//! security event (`api_key_refused`, with the reason in `data`). Creation and revocation are
//! security events and platform audit entries. No key, secret or hash is ever logged.
//!
//! Refusals are limited per client IP ([`RefusedKeyLimit`], by default
//! [`API_KEY_REFUSAL_QUOTA`]: 10 per minute): past the quota the HTTP layer answers 429 with
//! `Retry-After` (an `api_key_refused` event with reason `rate_limited`) and blocks the
//! address until then, valid keys included.
//!
//! ```no_run
//! use helix_auth::api_keys::{ApiKeyConfig, ApiKeyService, HmacKey, NewApiKey};
//! use helix_core::{Actor, RequestMeta};
//!
//! # async fn demo(auth: helix_auth::AuthService) -> Result<(), helix_auth::AuthError> {
//! let config = ApiKeyConfig { hash_key: Some(HmacKey::generate()), ..ApiKeyConfig::default() };
//! let keys = ApiKeyService::new(auth, config)?;
//! let meta = RequestMeta::new_internal();
//! let new = NewApiKey::new("org:0190f5c2-0000-7000-8000-000000000000", "ci", ["members:read"]);
//! let (record, secret) = keys.create(&meta, Actor::System("setup".into()), new).await?;
//! // Show `secret.expose_secret()` once. Later, on a request:
//! let principal = keys.resolve(&meta, secret.expose_secret()).await?;
//! assert_eq!(principal.key_id, record.id);
//! assert!(principal.has_scope("members:read"));
//! # Ok(()) }
//! ```

mod abuse;
mod config;
mod key;
mod model;
mod owners;
mod service;

pub use abuse::{API_KEY_REFUSAL_CLASS, API_KEY_REFUSAL_QUOTA, RefusedKeyLimit};
pub use config::ApiKeyConfig;
pub use key::{API_KEY_PREFIX, ApiKeySecret, HmacKey, MIN_HMAC_KEY_BYTES, is_api_key};
pub use model::{ApiKey, ApiKeyPrincipal, NewApiKey};
pub use owners::ApiKeyOwners;
pub use service::ApiKeyService;
