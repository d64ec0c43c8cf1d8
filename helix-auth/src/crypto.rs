//! Secrets encrypted at rest: XChaCha20-Poly1305 under a key ring whose key ids are stored
//! with each value, so keys can rotate without re-encrypting everything at once.
//!
//! A sealed value is one printable string, `v1.<key id>.<base64url(nonce ‖ ciphertext)>`,
//! that fits a `TEXT` column. Each value is bound to its context by associated data (for
//! example the account id and the purpose), so a sealed secret copied onto another row does
//! not open. Values sealed under a retired key still open while that key is configured;
//! [`KeyRing::needs_reseal`] tells the caller to re-seal them under the active key.
//!
//! ```
//! use helix_auth::crypto::{EncryptionKeyConfig, KeyRing};
//!
//! let ring = KeyRing::from_config(&EncryptionKeyConfig::generate("2026-11"), &[])?;
//! let sealed = ring.seal(b"JBSWY3DPEHPK3PXP", b"totp:0192e3c4")?;
//! assert!(sealed.starts_with("v1.2026-11."));
//! assert_eq!(&ring.open(&sealed, b"totp:0192e3c4")?[..], b"JBSWY3DPEHPK3PXP");
//! assert!(ring.open(&sealed, b"totp:another-account").is_err());
//! # Ok::<(), helix_auth::crypto::CryptoError>(())
//! ```

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

/// The format tag of sealed values.
const VERSION: &str = "v1";
/// XChaCha20 nonces are 192 bits: random nonces never collide in practice.
const NONCE_LEN: usize = 24;
/// Longest accepted key id.
const MAX_KEY_ID_LEN: usize = 64;

/// Why a value could not be sealed or opened. The messages never contain key material or
/// plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A configured key is malformed (bad id, not 32 bytes of base64, duplicate id).
    #[error("encryption key `{key_id}`: {reason}")]
    InvalidKey {
        /// The offending key id (not secret).
        key_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The value was sealed under a key id that is not configured.
    #[error("encryption key `{0}` is not configured")]
    UnknownKey(String),
    /// The value is not a sealed value, was tampered with, or belongs to another context.
    #[error("sealed value is malformed or does not authenticate")]
    Corrupt,
}

impl From<CryptoError> for helix_core::Error {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::InvalidKey { .. } => helix_core::Error::Config(e.to_string()),
            // A stored secret that no longer opens is a server-side fault, never the caller's.
            CryptoError::UnknownKey(_) | CryptoError::Corrupt => {
                helix_core::Error::Internal(Box::new(e))
            }
        }
    }
}

/// One encryption key as configured: an id stored next to every value it seals, and the
/// base64 (standard or URL-safe) of 32 random bytes (`openssl rand -base64 32`). `Debug`
/// shows the id only; the key is wiped on drop.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionKeyConfig {
    /// The key id: 1–64 characters from `A-Z a-z 0-9 - _`.
    pub id: String,
    /// The key, base64 of 32 bytes. Secret.
    pub key: String,
}

impl EncryptionKeyConfig {
    /// A key configuration from its two parts.
    pub fn new(id: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            key: key.into(),
        }
    }

    /// A fresh random key, for development and tests. Production keys belong in
    /// configuration, so that every instance opens what another sealed.
    pub fn generate(id: impl Into<String>) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        Self::new(id, STANDARD.encode(key.as_ref()))
    }
}

impl fmt::Debug for EncryptionKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKeyConfig")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl Drop for EncryptionKeyConfig {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// The active key (which seals) and the retired keys (which still open). Cheap to share
/// behind an `Arc`; `Debug` shows key ids only.
#[derive(Clone)]
pub struct KeyRing {
    active: String,
    ciphers: HashMap<String, XChaCha20Poly1305>,
}

impl KeyRing {
    /// A key ring sealing with `active` and opening with it and every key in `retired`.
    pub fn from_config(
        active: &EncryptionKeyConfig,
        retired: &[EncryptionKeyConfig],
    ) -> Result<Self, CryptoError> {
        let mut ciphers = HashMap::new();
        for key in std::iter::once(active).chain(retired) {
            let cipher = cipher(key)?;
            if ciphers.insert(key.id.clone(), cipher).is_some() {
                return Err(CryptoError::InvalidKey {
                    key_id: key.id.clone(),
                    reason: "configured twice",
                });
            }
        }
        Ok(Self {
            active: active.id.clone(),
            ciphers,
        })
    }

    /// The id of the key that seals new values.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Seals `plaintext`, bound to `context` (associated data that must be given again to
    /// open it: for example `b"totp:" + account id`).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<String, CryptoError> {
        let cipher = self
            .ciphers
            .get(&self.active)
            .ok_or_else(|| CryptoError::UnknownKey(self.active.clone()))?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Corrupt)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(format!(
            "{VERSION}.{}.{}",
            self.active,
            URL_SAFE_NO_PAD.encode(blob)
        ))
    }

    /// Opens a value sealed by [`KeyRing::seal`] under any configured key, with the same
    /// `context`. The plaintext is wiped when dropped.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (key_id, blob) = split(sealed)?;
        let cipher = self
            .ciphers
            .get(key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?;
        let blob = URL_SAFE_NO_PAD
            .decode(blob)
            .map_err(|_| CryptoError::Corrupt)?;
        if blob.len() < NONCE_LEN {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Corrupt)?;
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Corrupt)
    }

    /// Whether `sealed` was sealed under a key other than the active one (and should be
    /// re-sealed the next time it is opened). Malformed values answer `false`.
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        split(sealed).is_ok_and(|(key_id, _)| key_id != self.active)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.ciphers.keys().collect();
        ids.sort();
        f.debug_struct("KeyRing")
            .field("active", &self.active)
            .field("keys", &ids)
            .finish()
    }
}

fn split(sealed: &str) -> Result<(&str, &str), CryptoError> {
    let mut parts = sealed.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(key_id), Some(blob)) if !key_id.is_empty() => Ok((key_id, blob)),
        _ => Err(CryptoError::Corrupt),
    }
}

fn cipher(key: &EncryptionKeyConfig) -> Result<XChaCha20Poly1305, CryptoError> {
    let invalid = |reason| CryptoError::InvalidKey {
        key_id: key.id.clone(),
        reason,
    };
    let id_ok = !key.id.is_empty()
        && key.id.len() <= MAX_KEY_ID_LEN
        && key
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(invalid(
            "the id must be 1-64 characters from A-Z a-z 0-9 - _",
        ));
    }
    let trimmed = key.key.trim();
    let bytes = Zeroizing::new(
        STANDARD
            .decode(trimmed)
            .or_else(|_| URL_SAFE.decode(trimmed))
            .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
            .map_err(|_| invalid("the key is not base64"))?,
    );
    if bytes.len() != 32 {
        return Err(invalid(
            "the key must be 32 bytes (openssl rand -base64 32)",
        ));
    }
    XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| invalid("the key is unusable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(active: &str, retired: &[&str]) -> (KeyRing, Vec<EncryptionKeyConfig>) {
        let a = EncryptionKeyConfig::generate(active);
        let r: Vec<_> = retired
            .iter()
            .map(|id| EncryptionKeyConfig::generate(*id))
            .collect();
        (KeyRing::from_config(&a, &r).unwrap(), {
            let mut all = vec![a];
            all.extend(r);
            all
        })
    }

    #[test]
    fn round_trip_and_context_binding() {
        let (ring, _) = ring("k1", &[]);
        let sealed = ring.seal(b"secret", b"ctx-a").unwrap();
        assert_eq!(&ring.open(&sealed, b"ctx-a").unwrap()[..], b"secret");
        assert_eq!(ring.open(&sealed, b"ctx-b"), Err(CryptoError::Corrupt));
        // Two seals of the same value differ (random nonces).
        assert_ne!(sealed, ring.seal(b"secret", b"ctx-a").unwrap());
        assert!(!sealed.contains("secret"));
    }

    #[test]
    fn tampering_is_detected() {
        let (ring, _) = ring("k1", &[]);
        let sealed = ring.seal(b"secret", b"ctx").unwrap();
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(ring.open(&tampered, b"ctx"), Err(CryptoError::Corrupt));
        for junk in ["", "v1", "v1..abc", "v2.k1.abc", "v1.k1.!!", "v1.k1.AAAA"] {
            assert!(ring.open(junk, b"ctx").is_err(), "{junk}");
        }
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old = EncryptionKeyConfig::generate("old");
        let old_ring = KeyRing::from_config(&old, &[]).unwrap();
        let sealed = old_ring.seal(b"secret", b"ctx").unwrap();

        let new = EncryptionKeyConfig::generate("new");
        let rotated = KeyRing::from_config(&new, std::slice::from_ref(&old)).unwrap();
        assert!(rotated.needs_reseal(&sealed));
        assert_eq!(&rotated.open(&sealed, b"ctx").unwrap()[..], b"secret");
        let resealed = rotated.seal(b"secret", b"ctx").unwrap();
        assert!(!rotated.needs_reseal(&resealed));

        // Once the old key is dropped from configuration, its values no longer open.
        let without_old = KeyRing::from_config(&new, &[]).unwrap();
        assert_eq!(
            without_old.open(&sealed, b"ctx"),
            Err(CryptoError::UnknownKey("old".into()))
        );
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        for (id, key) in [
            ("", STANDARD.encode([0u8; 32])),
            ("has space", STANDARD.encode([0u8; 32])),
            ("k", "not base64 at all".to_owned()),
            ("k", STANDARD.encode([0u8; 16])),
        ] {
            let cfg = EncryptionKeyConfig::new(id, key.clone());
            let err = KeyRing::from_config(&cfg, &[]).unwrap_err();
            assert!(!err.to_string().contains(&key), "{err}");
        }
        let (_, keys) = ring("dup", &[]);
        assert!(matches!(
            KeyRing::from_config(&keys[0], &keys),
            Err(CryptoError::InvalidKey { .. })
        ));
        assert!(!format!("{:?}", keys[0]).contains(&keys[0].key));
    }
}
