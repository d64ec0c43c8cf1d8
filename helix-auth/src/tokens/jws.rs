//! Compact JWS with exactly one algorithm: EdDSA over Ed25519.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signature;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::TokenError;
use super::keys::SigningKeys;

/// The longest token looked at; anything longer is refused before decoding.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;

/// The only header accepted: unknown fields (`jku`, `jwk`, `x5u`, `crit`, ...) are refused.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

const ALG: &str = "EdDSA";
const TYP: &str = "JWT";

/// Signs `claims` with the active key: `b64(header).b64(claims).b64(signature)`.
pub(crate) fn sign<T: Serialize>(keys: &SigningKeys, claims: &T) -> Result<String, TokenError> {
    let header = Header {
        alg: ALG.to_owned(),
        kid: Some(keys.active_kid().to_owned()),
        typ: Some(TYP.to_owned()),
    };
    let header = serde_json::to_vec(&header).map_err(|_| TokenError::Issue)?;
    let claims = serde_json::to_vec(claims).map_err(|_| TokenError::Issue)?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = keys.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    Ok(token)
}

/// Checks the header and the signature, then decodes the claims. Nothing in the claims is
/// trusted, or even parsed, before the signature has verified.
pub(crate) fn verify<T: DeserializeOwned>(
    keys: &SigningKeys,
    token: &str,
) -> Result<T, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header = decode(header_b64)?;
    let header: Header = match serde_json::from_slice(&header) {
        Ok(h) => h,
        // A header with extra fields, or with `alg` of another type, is not ours.
        Err(e) if e.is_data() => return Err(TokenError::UnsupportedAlgorithm),
        Err(_) => return Err(TokenError::Malformed),
    };
    if header.alg != ALG {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    if header.typ.as_deref().is_some_and(|t| t != TYP) {
        return Err(TokenError::Malformed);
    }
    let kid = header.kid.ok_or(TokenError::MissingKeyId)?;
    let key = keys.verifying_key(&kid).ok_or(TokenError::UnknownKeyId)?;
    let signature = decode(signature_b64)?;
    let signature = Signature::from_slice(&signature).map_err(|_| TokenError::Malformed)?;
    // Everything before the last dot is the signing input.
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    key.verify_strict(signing_input.as_bytes(), &signature)
        .map_err(|_| TokenError::BadSignature)?;
    let claims = decode(claims_b64)?;
    serde_json::from_slice(&claims).map_err(|_| TokenError::Malformed)
}

/// Strict base64url: no padding, URL-safe alphabet, canonical trailing bits.
fn decode(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}
