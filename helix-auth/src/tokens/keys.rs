//! Ed25519 signing keys from configuration, and the JWKS that publishes them.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::error::KeyError;

/// One signing key as configured: its key id and its private key, either an Ed25519 PKCS#8
/// PEM (`openssl genpkey -algorithm ed25519`) or the base64 (standard or URL-safe) of a
/// 32-byte seed. `Debug` shows the key id only; the private key is wiped on drop.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyConfig {
    /// The key id published in the JWKS and in each token's header.
    pub kid: String,
    /// The private key (PEM or base64 seed). Secret.
    pub private_key: String,
}

impl SigningKeyConfig {
    /// A key configuration from its two parts.
    pub fn new(kid: impl Into<String>, private_key: impl Into<String>) -> Self {
        Self {
            kid: kid.into(),
            private_key: private_key.into(),
        }
    }

    /// A fresh random key (base64 seed from the OS-seeded CSPRNG), for development and tests.
    /// Production keys belong in configuration, so that every instance signs with the same key.
    pub fn generate(kid: impl Into<String>) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(seed.as_mut());
        Self::new(kid, STANDARD.encode(seed.as_ref()))
    }
}

impl fmt::Debug for SigningKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyConfig")
            .field("kid", &self.kid)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl Drop for SigningKeyConfig {
    fn drop(&mut self) {
        self.private_key.zeroize();
    }
}

/// The active signing key and the previous keys still accepted for verification.
/// `Debug` lists key ids only.
#[derive(Clone)]
pub struct SigningKeys {
    active_kid: String,
    active: SigningKey,
    /// Every accepted key, the active one first.
    verifiers: Vec<(String, VerifyingKey)>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("active", &self.active_kid)
            .field("accepted", &self.kids())
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Loads the active key and the previous keys (whose private parts are only used to derive
    /// their public keys, then dropped). Fails on an invalid or duplicate key id, a missing,
    /// malformed or weak key.
    pub fn from_config(
        active: &SigningKeyConfig,
        previous: &[SigningKeyConfig],
    ) -> Result<Self, KeyError> {
        let active_key = parse_key(active)?;
        let mut verifiers = vec![(active.kid.clone(), active_key.verifying_key())];
        for prev in previous {
            let key = parse_key(prev)?;
            if verifiers.iter().any(|(kid, _)| *kid == prev.kid) {
                return Err(KeyError::DuplicateKeyId(prev.kid.clone()));
            }
            verifiers.push((prev.kid.clone(), key.verifying_key()));
        }
        Ok(Self {
            active_kid: active.kid.clone(),
            active: active_key,
            verifiers,
        })
    }

    /// The key id new tokens are signed with.
    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    /// Every accepted key id, the active one first.
    pub fn kids(&self) -> Vec<&str> {
        self.verifiers.iter().map(|(kid, _)| kid.as_str()).collect()
    }

    /// The public JSON Web Key Set (the content of `/.well-known/jwks.json`): every accepted
    /// key as an `OKP`/`Ed25519` key with its `kid`.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .verifiers
                .iter()
                .map(|(kid, key)| Jwk {
                    kty: "OKP",
                    crv: "Ed25519",
                    alg: "EdDSA",
                    key_use: "sig",
                    kid: kid.clone(),
                    x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
                })
                .collect(),
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.active.sign(message)
    }

    pub(crate) fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifiers
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key)
    }
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// One public Ed25519 key (RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    /// Key type: `OKP`.
    pub kty: &'static str,
    /// Curve: `Ed25519`.
    pub crv: &'static str,
    /// Algorithm: `EdDSA`.
    pub alg: &'static str,
    /// Use: `sig`.
    #[serde(rename = "use")]
    pub key_use: &'static str,
    /// Key id.
    pub kid: String,
    /// The public key, base64url without padding.
    pub x: String,
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 64
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn parse_key(config: &SigningKeyConfig) -> Result<SigningKey, KeyError> {
    let kid = &config.kid;
    if !valid_kid(kid) {
        return Err(KeyError::InvalidKeyId(kid.chars().take(64).collect()));
    }
    let text = config.private_key.trim();
    if text.is_empty() {
        return Err(KeyError::Missing(kid.clone()));
    }
    let malformed = |reason| KeyError::Malformed {
        kid: kid.clone(),
        reason,
    };
    let key = if text.starts_with("-----BEGIN") {
        SigningKey::from_pkcs8_pem(text)
            .map_err(|_| malformed("not an unencrypted Ed25519 PKCS#8 PEM"))?
    } else {
        let bytes = decode_base64(text).ok_or_else(|| malformed("not base64"))?;
        match bytes.len() {
            32 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                seed.copy_from_slice(&bytes);
                SigningKey::from_bytes(&seed)
            }
            _ => SigningKey::from_pkcs8_der(&bytes)
                .map_err(|_| malformed("not 32 bytes, nor an Ed25519 PKCS#8 DER"))?,
        }
    };
    let seed = Zeroizing::new(key.to_bytes());
    let mut seen = [false; 256];
    for b in seed.iter() {
        seen[usize::from(*b)] = true;
    }
    // 32 random bytes have about 30 distinct values; fewer than 8 is a pattern, not a key.
    if seen.iter().filter(|s| **s).count() < 8 {
        return Err(KeyError::Weak(kid.clone()));
    }
    Ok(key)
}

fn decode_base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_material() {
        let config = SigningKeyConfig::generate("k1");
        let secret = config.private_key.clone();
        assert!(!format!("{config:?}").contains(&secret));
        let keys = SigningKeys::from_config(&config, &[]).unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{keys:?}");
        assert!(shown.contains("k1") && !shown.contains(&secret));
    }

    #[test]
    fn refuses_weak_missing_and_malformed_keys() {
        let zeros = SigningKeyConfig::new("k", STANDARD.encode([0u8; 32]));
        assert_eq!(
            SigningKeys::from_config(&zeros, &[]).err(),
            Some(KeyError::Weak("k".into()))
        );
        let empty = SigningKeyConfig::new("k", " ");
        assert_eq!(
            SigningKeys::from_config(&empty, &[]).err(),
            Some(KeyError::Missing("k".into()))
        );
        let short = SigningKeyConfig::new("k", STANDARD.encode([7u8; 16]));
        assert!(matches!(
            SigningKeys::from_config(&short, &[]),
            Err(KeyError::Malformed { .. })
        ));
        let mut bad_kid = SigningKeyConfig::generate("x");
        bad_kid.kid = "a b".into();
        assert!(matches!(
            SigningKeys::from_config(&bad_kid, &[]),
            Err(KeyError::InvalidKeyId(_))
        ));
    }

    #[test]
    fn accepts_pkcs8_pem_and_matches_the_seed() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let seeded = SigningKeyConfig::generate("k");
        let key = parse_key(&seeded).unwrap_or_else(|e| panic!("{e}"));
        let pem = key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap_or_else(|e| panic!("{e}"));
        let from_pem = SigningKeyConfig::new("k", pem.as_str());
        let keys = SigningKeys::from_config(&from_pem, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys.verifying_key("k"), Some(&key.verifying_key()));
        let garbage = SigningKeyConfig::new(
            "k",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        );
        assert!(matches!(
            SigningKeys::from_config(&garbage, &[]),
            Err(KeyError::Malformed { .. })
        ));
    }
}
