//! Email normalization and the pseudonymous email key of security events.

use sha2::{Digest, Sha256};

use crate::error::{AuthError, Result};

/// Trims and lowercases `email` and checks its shape (one `@`, a local part of at most 64
/// characters, a dotted domain, at most 254 characters, no whitespace or control
/// characters). The error names the field `email`.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let invalid = || AuthError::invalid("email", "invalid", "enter a valid email address");
    if email.is_empty() || email.chars().count() > 254 {
        return Err(invalid());
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    if local.is_empty()
        || local.chars().count() > 64
        || local.contains('@')
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(invalid());
    }
    Ok(email)
}

/// The key under which attempts on an email are counted, known account or not: a SHA-256
/// of the normalized address with a domain prefix (pseudonymous, not anonymous).
pub(crate) fn email_key(normalized: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"helix-auth/email/v1:");
    h.update(normalized.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_validates() {
        assert_eq!(
            normalize_email("  Alice@Example.COM ").ok().as_deref(),
            Some("alice@example.com")
        );
        for bad in [
            "", "alice", "@x.io", "a@b", "a b@x.io", "a@x..io", "a@.x.io", "a@b@c.io",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        assert_eq!(email_key("a@x.io"), email_key("a@x.io"));
        assert_ne!(email_key("a@x.io"), email_key("b@x.io"));
    }
}
