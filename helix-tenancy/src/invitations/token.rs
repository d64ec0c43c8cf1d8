//! Invitation tokens: 256 random bits, base64url, shown once, stored as a SHA-256 hash.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A secret invitation token. Returned once, when the invitation is created or resent; only
/// its hash is stored. `Debug` and `Display` are redacted so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationToken(String);

impl InvitationToken {
    /// A fresh token from the operating system's CSPRNG (via `rand`'s thread RNG).
    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Wraps a token received from a client (for [`crate::TenancyService::accept_invitation`]).
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token text, to put in the invitation link. Handle it as a secret.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hex SHA-256 hash that is stored and looked up.
    pub(crate) fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationToken([REDACTED])")
    }
}

impl fmt::Display for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_base64url_and_redacted() {
        let t = InvitationToken::generate();
        assert_eq!(t.expose().len(), 43);
        assert!(
            t.expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(t, InvitationToken::generate());
        assert!(!format!("{t:?}").contains(t.expose()));
        assert_eq!(t.hash().len(), 64);
        assert_eq!(t.hash(), InvitationToken::new(t.expose()).hash());
    }
}
