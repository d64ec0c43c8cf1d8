//! Token and key errors, with stable codes.

use thiserror::Error;

/// Why an access token was refused, or could not be issued.
///
/// Every refusal converts into [`helix_core::Error::Unauthorized`]: the client learns that
/// the token is not valid, never which check failed. [`TokenError::code`] names the check
/// for server-side logs and metrics. No variant carries token or key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a compact JWS of three base64url parts with JSON header and claims.
    #[error("malformed access token")]
    Malformed,
    /// The header names an algorithm other than `EdDSA` (`none`, `HS256`, `RS256`, ...) or
    /// carries fields that are not accepted.
    #[error("access token algorithm not accepted")]
    UnsupportedAlgorithm,
    /// The header has no `kid`.
    #[error("access token has no key id")]
    MissingKeyId,
    /// The `kid` names no configured key.
    #[error("access token key id is unknown")]
    UnknownKeyId,
    /// The signature does not verify.
    #[error("access token signature is invalid")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("access token has expired")]
    Expired,
    /// `nbf` or `iat` lies in the future (beyond the leeway).
    #[error("access token is not yet valid")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("access token issuer is wrong")]
    WrongIssuer,
    /// `aud` is not the configured audience.
    #[error("access token audience is wrong")]
    WrongAudience,
    /// Claims could not be serialized when issuing (an internal failure).
    #[error("access token could not be issued")]
    Issue,
}

impl TokenError {
    /// A stable code for logs and metrics (`TOKEN_EXPIRED`, ...). Clients only ever see
    /// `UNAUTHORIZED`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "TOKEN_MALFORMED",
            Self::UnsupportedAlgorithm => "TOKEN_ALGORITHM",
            Self::MissingKeyId => "TOKEN_MISSING_KID",
            Self::UnknownKeyId => "TOKEN_UNKNOWN_KID",
            Self::BadSignature => "TOKEN_BAD_SIGNATURE",
            Self::Expired => "TOKEN_EXPIRED",
            Self::NotYetValid => "TOKEN_NOT_YET_VALID",
            Self::WrongIssuer => "TOKEN_WRONG_ISSUER",
            Self::WrongAudience => "TOKEN_WRONG_AUDIENCE",
            Self::Issue => "TOKEN_ISSUE_FAILED",
        }
    }
}

impl From<TokenError> for helix_core::Error {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Issue => helix_core::Error::internal(e),
            _ => helix_core::Error::Unauthorized,
        }
    }
}

/// A signing key in the configuration is unusable. The message names the key's `kid` and
/// the problem, never the key material; boot stops with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key id is empty, too long, or has characters outside `[A-Za-z0-9._-]`.
    #[error("signing key id `{0}` is invalid: use 1 to 64 characters of A-Z a-z 0-9 . _ -")]
    InvalidKeyId(String),
    /// Two configured keys share a key id.
    #[error("signing key id `{0}` is used twice")]
    DuplicateKeyId(String),
    /// The private key is empty.
    #[error("signing key `{0}` has no private key (set it in the configuration)")]
    Missing(String),
    /// The private key is neither a PKCS#8 Ed25519 PEM nor a base64 32-byte seed.
    #[error(
        "signing key `{kid}` is malformed ({reason}); expected an Ed25519 PKCS#8 PEM or the base64 of a 32-byte seed"
    )]
    Malformed {
        /// The key id.
        kid: String,
        /// What is wrong, without key material.
        reason: &'static str,
    },
    /// The private key is a low-entropy value (all zeros, a repeated pattern).
    #[error(
        "signing key `{0}` is weak: generate 32 random bytes (e.g. `openssl genpkey -algorithm ed25519`)"
    )]
    Weak(String),
}

impl From<KeyError> for helix_core::Error {
    fn from(e: KeyError) -> Self {
        helix_core::Error::Config(format!("auth.tokens: {e}"))
    }
}
