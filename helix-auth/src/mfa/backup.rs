//! Backup codes: 12 random characters of Crockford's base32 (60 bits), shown as
//! `xxxx-xxxx-xxxx`, stored as a SHA-256 keyed by the account id, usable once.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

/// How many codes an account gets.
pub const BACKUP_CODE_COUNT: usize = 10;
/// Characters per code (5 bits each: 60 bits).
const CODE_CHARS: usize = 12;
/// Crockford's base32: no `i`, `l`, `o`, `u`, so codes read and type without ambiguity.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// One backup code, as shown to the user. `Debug` redacts it; it is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct BackupCode(Zeroizing<String>);

impl BackupCode {
    /// A fresh random code.
    pub(crate) fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; CODE_CHARS]);
        rand::rng().fill_bytes(bytes.as_mut());
        let mut text = Zeroizing::new(String::with_capacity(CODE_CHARS + 2));
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                text.push('-');
            }
            // 32 divides 256: masking keeps the distribution uniform.
            text.push(char::from(ALPHABET[usize::from(b & 31)]));
        }
        Self(text)
    }

    /// The code to show to the user (once: only its hash is stored).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupCode([redacted])")
    }
}

/// The canonical form of what a user typed: lowercase, separators and spaces dropped,
/// Crockford's look-alikes mapped (`i`/`l` → `1`, `o` → `0`). `None` when it cannot be a
/// backup code.
pub(crate) fn normalize(input: &str) -> Option<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(CODE_CHARS));
    for c in input.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

/// The stored form of a normalized code: hex SHA-256 over a domain tag, the account id and
/// the code. 60 random bits make a slow hash unnecessary (see the module docs of
/// [`crate::mfa`]); the account id keeps equal codes of two accounts apart.
pub(crate) fn hash(account_id: Uuid, normalized: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"helix-auth.backup-code.v1\0");
    h.update(account_id.as_bytes());
    h.update(normalized.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_and_normalize() {
        let code = BackupCode::generate();
        assert_eq!(code.expose().len(), 14);
        assert_eq!(code.expose().matches('-').count(), 2);
        let n = normalize(&code.expose().to_uppercase()).unwrap_or_else(|| panic!());
        assert_eq!(n.len(), 12);
        assert_eq!(
            normalize("ABCD EFGH JKMN").as_deref().map(String::as_str),
            Some("abcdefghjkmn")
        );
        assert_eq!(
            normalize("o0il-1111-1111").as_deref().map(String::as_str),
            Some("001111111111")
        );
        assert!(normalize("too-short").is_none());
        assert!(normalize("abcd-efgh-jkm!").is_none());
        assert_eq!(format!("{code:?}"), "BackupCode([redacted])");
    }
}
