//! Sign-in attempts: the `state` sent to the provider, and the nonce and PKCE verifier
//! derived from it.
//!
//! Only the SHA-256 of the state and a random salt are stored. The nonce and the verifier
//! are `base64url(SHA-256(label || salt || state))`: whoever intercepts the redirect (state
//! and code) lacks the salt, and whoever reads the table lacks the state, so neither can
//! redeem the code (PKCE) or forge the nonce.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The secrets of one attempt. `Debug` is redacted.
pub(crate) struct AttemptSecrets {
    pub(crate) state: Zeroizing<String>,
    pub(crate) salt: String,
}

impl fmt::Debug for AttemptSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AttemptSecrets([REDACTED])")
    }
}

impl AttemptSecrets {
    /// A fresh state and salt (256 random bits each).
    pub(crate) fn generate() -> Self {
        let mut state = [0u8; 32];
        let mut salt = [0u8; 32];
        rand::rng().fill_bytes(&mut state);
        rand::rng().fill_bytes(&mut salt);
        Self {
            state: Zeroizing::new(URL_SAFE_NO_PAD.encode(state)),
            salt: hex::encode(salt),
        }
    }

    /// The secrets of a returning attempt.
    pub(crate) fn from_parts(state: &str, salt: &str) -> Self {
        Self {
            state: Zeroizing::new(state.to_owned()),
            salt: salt.to_owned(),
        }
    }

    /// The stored lookup key of a state.
    pub(crate) fn state_hash(state: &str) -> String {
        hex::encode(Sha256::digest(state.as_bytes()))
    }

    fn derive(&self, label: &str) -> String {
        let mut h = Sha256::new();
        h.update(label.as_bytes());
        h.update([0]);
        h.update(self.salt.as_bytes());
        h.update([0]);
        h.update(self.state.as_bytes());
        URL_SAFE_NO_PAD.encode(h.finalize())
    }

    /// The nonce.
    pub(crate) fn nonce(&self) -> String {
        self.derive("helix-oidc-nonce")
    }

    /// The PKCE code verifier (43 characters of the unreserved set, RFC 7636 §4.1).
    pub(crate) fn pkce_verifier(&self) -> String {
        self.derive("helix-oidc-pkce")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivations_are_stable_and_distinct() {
        let a = AttemptSecrets::generate();
        let b = AttemptSecrets::from_parts(&a.state, &a.salt);
        assert_eq!(a.nonce(), b.nonce());
        assert_eq!(a.pkce_verifier(), b.pkce_verifier());
        assert_ne!(a.nonce(), a.pkce_verifier());
        assert_eq!(a.pkce_verifier().len(), 43);
        let other_salt = AttemptSecrets::from_parts(&a.state, "00");
        assert_ne!(a.nonce(), other_salt.nonce());
        assert!(!format!("{a:?}").contains(a.state.as_str()));
    }
}
