//! Passwords: the [`Password`] secret type, the [`PasswordPolicy`] and the argon2id
//! [`PasswordHasher`] that runs on a bounded blocking pool.

mod hasher;
mod policy;

use std::fmt;

use zeroize::Zeroizing;

pub use hasher::{HasherStats, PasswordHasher, Verification};
pub use policy::PasswordPolicy;

/// The `password_hash` of an account without a password (created by an OpenID Connect
/// sign-in). Not a PHC string, so no password ever matches it:
/// [`PasswordHasher::verify`] answers a mismatch after the same dummy work as for an
/// unknown account.
pub const NO_PASSWORD_HASH: &str = "!no-password";

/// A plaintext password. `Debug` is redacted, there is no `Display`, and the memory is
/// zeroed when the value is dropped, so it cannot leak into logs or error messages by accident.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password received from a client.
    pub fn new(password: impl Into<String>) -> Self {
        Self(Zeroizing::new(password.into()))
    }

    /// The password text. Handle it as a secret: never log or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let p = Password::new("correct horse battery staple");
        assert_eq!(format!("{p:?}"), "Password([REDACTED])");
        assert_eq!(p.expose(), "correct horse battery staple");
    }
}
