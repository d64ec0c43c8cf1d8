//! The key material: [`HmacKey`] (the server secret of keyed hashes), [`ApiKeySecret`] (the
//! `hx_...` string shown once) and the parsing of a presented key.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Deserializer};
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The prefix of every API key.
pub const API_KEY_PREFIX: &str = "hx_";

/// Fewest bytes of a configured [`HmacKey`].
pub const MIN_HMAC_KEY_BYTES: usize = 32;

/// Bytes of randomness in an API key's secret part (256 bits).
const SECRET_BYTES: usize = 32;
/// Length of the secret part: 32 bytes in base64url without padding.
const SECRET_CHARS: usize = 43;
/// Length of the id part: a UUID as 32 lowercase hex digits.
const ID_CHARS: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// A server-side secret for keyed hashes (HMAC-SHA256): API-key hashes, CSRF tokens. At least
/// [`MIN_HMAC_KEY_BYTES`] bytes, configured as base64 (standard or URL-safe, padding
/// optional). `Debug` never shows it and it is wiped on drop.
#[derive(Clone)]
pub struct HmacKey(Zeroizing<Vec<u8>>);

impl HmacKey {
    /// A key from its configured form (base64). Too short or not base64 is an error naming
    /// the problem, never the value.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD_NO_PAD, &STANDARD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(|| "must be base64 (standard or URL-safe)".to_owned())?;
        Self::from_bytes(bytes)
    }

    /// A key from raw bytes (at least [`MIN_HMAC_KEY_BYTES`]).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < MIN_HMAC_KEY_BYTES {
            return Err(format!(
                "must be at least {MIN_HMAC_KEY_BYTES} bytes (decoded), got {}",
                bytes.len()
            ));
        }
        Ok(Self(Zeroizing::new(bytes)))
    }

    /// A random 256-bit key (development, tests).
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(Zeroizing::new(bytes))
    }

    /// A subkey for another purpose: `HMAC(self, "helix-subkey:" || label)`, so one
    /// configured secret can serve several uses without their outputs being related.
    pub fn derive(&self, label: &str) -> Self {
        Self(Zeroizing::new(
            self.mac(&[b"helix-subkey:", label.as_bytes()]),
        ))
    }

    /// `HMAC-SHA256(self, parts[0] || parts[1] || ...)`.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = self.hmac();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is `HMAC-SHA256(self, parts...)`, compared in constant time.
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut mac = self.hmac();
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(tag).is_ok()
    }

    fn hmac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable_hmac(),
        }
    }
}

#[cold]
fn unreachable_hmac() -> HmacSha256 {
    // HMAC's `new_from_slice` only fails for fixed-size-key MACs; this path never runs. A
    // fixed key keeps it total without a panic.
    <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default())
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey([redacted])")
    }
}

impl<'de> Deserialize<'de> for HmacKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// A full API key, `hx_<32 hex digits of the key id>_<43 base64url characters>`, as handed
/// to its creator once. Only a keyed hash of it is stored. `Debug` hides it; it is wiped on
/// drop.
#[derive(Clone)]
pub struct ApiKeySecret(Zeroizing<String>);

impl ApiKeySecret {
    /// A new key for `id` with 256 random bits.
    pub(crate) fn generate(id: Uuid) -> (Self, Zeroizing<[u8; SECRET_BYTES]>) {
        let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
        rand::rng().fill_bytes(secret.as_mut());
        let text = format!(
            "{API_KEY_PREFIX}{}_{}",
            id.simple(),
            URL_SAFE_NO_PAD.encode(secret.as_ref())
        );
        (Self(Zeroizing::new(text)), secret)
    }

    /// The key, to show its creator once. It cannot be recovered later.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret([redacted])")
    }
}

/// A presented key, split: the id (to find the row) and the secret bytes (to check).
pub(crate) struct Presented {
    pub id: Uuid,
    pub secret: Zeroizing<Vec<u8>>,
}

/// Whether `token` looks like an API key (starts with `hx_`): the request authenticator
/// uses it to choose between an API key and an access token.
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(API_KEY_PREFIX)
}

/// Splits a presented key; `None` when it is not exactly the shape this crate issues.
pub(crate) fn parse(token: &str) -> Option<Presented> {
    let rest = token.strip_prefix(API_KEY_PREFIX)?;
    if rest.len() != ID_CHARS + 1 + SECRET_CHARS || !rest.is_ascii() {
        return None;
    }
    let (id, secret) = rest.split_at(ID_CHARS);
    let secret = secret.strip_prefix('_')?;
    if !id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let id = Uuid::try_parse(id).ok()?;
    let secret = Zeroizing::new(URL_SAFE_NO_PAD.decode(secret).ok()?);
    (secret.len() == SECRET_BYTES).then_some(Presented { id, secret })
}

/// The stored hash of a key: hex `HMAC-SHA256(key, "helix-api-key:" || id || secret)`.
pub(crate) fn hash(key: &HmacKey, id: Uuid, secret: &[u8]) -> String {
    hex::encode(key.mac(&[b"helix-api-key:", id.as_bytes(), secret]))
}

/// Whether `presented` matches the stored hex hash, in constant time.
pub(crate) fn matches(key: &HmacKey, presented: &Presented, stored_hex: &str) -> bool {
    let Ok(stored) = hex::decode(stored_hex) else {
        return false;
    };
    key.verify(
        &[
            b"helix-api-key:",
            presented.id.as_bytes(),
            &presented.secret,
        ],
        &stored,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let key = HmacKey::generate();
        let id = Uuid::now_v7();
        let (secret, raw) = ApiKeySecret::generate(id);
        let text = secret.expose_secret();
        assert!(text.starts_with("hx_"));
        assert_eq!(text.len(), 3 + 32 + 1 + 43);
        let stored = hash(&key, id, raw.as_ref());
        let presented = parse(text).unwrap();
        assert_eq!(presented.id, id);
        assert!(matches(&key, &presented, &stored));
        // Another server key does not verify it.
        assert!(!matches(&HmacKey::generate(), &presented, &stored));
        assert_eq!(format!("{secret:?}"), "ApiKeySecret([redacted])");
        assert_eq!(format!("{key:?}"), "HmacKey([redacted])");
    }

    #[test]
    fn malformed_keys_are_refused() {
        let id = Uuid::now_v7();
        let (secret, _) = ApiKeySecret::generate(id);
        let good = secret.expose_secret().to_owned();
        assert!(parse(&good).is_some());
        for bad in [
            "",
            "hx_",
            "hx_abc_def",
            &good[..good.len() - 1],
            &format!("{good}A"),
            &good.replacen("hx_", "hy_", 1),
            &good.to_uppercase(),
            &format!("hx_{}-{}", &good[3..35], &good[36..]),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hmac_keys_need_32_bytes() {
        assert!(HmacKey::from_base64("c2hvcnQ").is_err());
        assert!(HmacKey::from_base64("not base64 !").is_err());
        let text = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let key = HmacKey::from_base64(&text).unwrap();
        assert_eq!(format!("{key:?}"), "HmacKey([redacted])");
        let std = STANDARD.encode([7u8; 32]);
        assert!(HmacKey::from_base64(&std).is_ok());
        assert_ne!(key.derive("a").mac(&[b"x"]), key.derive("b").mac(&[b"x"]));
    }
}
