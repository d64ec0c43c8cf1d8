//! Verification and password-reset tokens: 256 random bits, base64url, shown once, stored as a SHA-256 hash.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

macro_rules! secret_token {
    ($(#[$doc:meta])* $name:ident, $purpose:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// A fresh token from the thread CSPRNG.
            pub(crate) fn generate() -> Self {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                Self(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes)))
            }

            /// Wraps a token received from a client.
            pub fn new(token: impl Into<String>) -> Self {
                Self(Zeroizing::new(token.into()))
            }

            #[doc = concat!("The token text, for the ", $purpose, " link. Handle it as a secret.")]
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// The hex SHA-256 that is stored and looked up.
            pub(crate) fn hash(&self) -> String {
                hex::encode(Sha256::digest(self.0.as_bytes()))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }
    };
}

secret_token!(
    /// A secret email verification token. `Debug` is redacted and there is no `Display`.
    VerificationToken,
    "verification"
);

secret_token!(
    /// A secret password-reset token (256 random bits, base64url, valid 1 hour, single use).
    /// `Debug` is redacted and there is no `Display`.
    PasswordResetToken,
    "password-reset"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hashed_and_redacted() {
        let t = VerificationToken::generate();
        assert_eq!(t.expose().len(), 43);
        assert_ne!(t, VerificationToken::generate());
        assert!(!format!("{t:?}").contains(t.expose()));
        assert_eq!(t.hash(), VerificationToken::new(t.expose()).hash());
        assert_eq!(t.hash().len(), 64);
        let r = PasswordResetToken::generate();
        assert_eq!(r.expose().len(), 43);
        assert!(!format!("{r:?}").contains(r.expose()));
        assert_eq!(r.hash(), PasswordResetToken::new(r.expose()).hash());
    }
}
