//! Access tokens: short-lived JWTs signed with Ed25519 (`alg: EdDSA`), and the JWKS that
//! publishes their public keys.
//!
//! - [`SigningKeys`] holds the active key and the previous keys still accepted during a
//!   rotation, each with a `kid`. Keys come from configuration ([`SigningKeyConfig`]: a
//!   PKCS#8 PEM or a base64 32-byte seed); a missing, malformed or weak key is a
//!   configuration error at boot. `Debug` never shows key material.
//! - [`AccessTokens`] issues and verifies access tokens against an issuer, an audience, a
//!   short TTL (10 minutes by default) and a small clock leeway.
//!
//! The compact JWS is built and checked here with `ed25519-dalek`, not by a general JWT
//! library: the only accepted header is `{"alg":"EdDSA","kid":...,"typ":"JWT"}` (unknown
//! header fields such as `jku`, `jwk` or `crit` are refused), so there is no algorithm
//! family to confuse (`none`, `HS256` signed with the public key, `RS256`), the `kid` must
//! name a configured key, and signatures are checked with `verify_strict`.
//!
//! Rotation: deploy a new active key with the old one under `previous` for at least one
//! access-token TTL, then drop it. Both appear in [`SigningKeys::jwks`] meanwhile.
//!
//! ```
//! use std::sync::Arc;
//! use helix_auth::tokens::{AccessGrant, AccessTokenConfig, AccessTokens, SigningKeyConfig, SigningKeys};
//!
//! let keys = SigningKeys::from_config(&SigningKeyConfig::generate("k1"), &[]).unwrap();
//! let config = AccessTokenConfig::new("https://id.example.com", "example-api");
//! let tokens = AccessTokens::new(keys, config, Arc::new(helix_core::SystemClock)).unwrap();
//! let account = uuid::Uuid::now_v7();
//! let issued = tokens.issue_access(&AccessGrant::new(account, uuid::Uuid::now_v7())).unwrap();
//! let claims = tokens.verify_access(issued.token()).unwrap();
//! assert_eq!(claims.sub, account);
//! ```

mod access;
mod error;
mod jws;
mod keys;

pub use access::{
    AccessClaims, AccessGrant, AccessTokenConfig, AccessTokens, ActorClaim, AuthMethods,
    IssuedAccessToken,
};
pub use error::{KeyError, TokenError};
pub use keys::{Jwk, Jwks, SigningKeyConfig, SigningKeys};
