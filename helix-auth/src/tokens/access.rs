//! Issuing and verifying access tokens.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use helix_core::Clock;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::TokenError;
use super::jws;
use super::keys::{Jwks, SigningKeys};

/// Access-token settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessTokenConfig {
    /// The `iss` claim: this identity service's URL.
    pub issuer: String,
    /// The `aud` claim: the API the tokens are for.
    pub audience: String,
    /// Lifetime of an access token, in seconds (default 600; at most 3600).
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (default 30; at most 300).
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_ttl() -> u64 {
    600
}

fn default_leeway() -> u64 {
    30
}

impl AccessTokenConfig {
    /// Settings for `issuer` and `audience` with the default TTL (10 minutes) and leeway (30 s).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            ttl_secs: default_ttl(),
            leeway_secs: default_leeway(),
        }
    }

    fn validate(&self) -> Result<(), helix_core::Error> {
        let fail = |m: &str| Err(helix_core::Error::Config(format!("auth.tokens: {m}")));
        if self.issuer.trim().is_empty() {
            return fail("issuer is required");
        }
        if self.audience.trim().is_empty() {
            return fail("audience is required");
        }
        if !(1..=3600).contains(&self.ttl_secs) {
            return fail("ttl_secs must be between 1 and 3600 (access tokens are short-lived)");
        }
        if self.leeway_secs > 300 {
            return fail("leeway_secs must be at most 300");
        }
        Ok(())
    }
}

/// The actor claim (`act`, RFC 8693): who is acting on the subject's behalf (impersonation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorClaim {
    /// The acting account.
    pub sub: Uuid,
}

/// The claims of a verified access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience (a single string; arrays are not accepted).
    pub aud: String,
    /// Subject: the account id.
    pub sub: Uuid,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds since the epoch (not issued by Helix; checked when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id.
    pub jti: Uuid,
    /// Session id: the token is only good while this session is active.
    pub sid: Uuid,
    /// Active organization, when one is selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<Uuid>,
    /// Impersonating actor, when the session is an impersonation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<ActorClaim>,
    /// How the session's user authenticated (RFC 8176 `amr`): `["pwd"]` after a password,
    /// `["pwd", "otp"]` after a password and a second factor. Absent when unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

impl AccessClaims {
    /// The authentication methods of the `amr` claim (unknown names are ignored).
    pub fn auth_methods(&self) -> AuthMethods {
        AuthMethods::from_names(self.amr.iter().map(String::as_str))
    }
}

/// The set of authentication methods a session used (the `amr` claim, RFC 8176), small and
/// `Copy`. Stored with the session, so refreshed tokens keep it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AuthMethods(u8);

impl AuthMethods {
    /// No method recorded.
    pub const NONE: Self = Self(0);
    /// A password (`pwd`).
    pub const PASSWORD: Self = Self(1);
    /// A one-time code: TOTP or a backup code (`otp`).
    pub const OTP: Self = Self(2);
    /// An external identity provider (OpenID Connect): `fed`.
    pub const FEDERATED: Self = Self(4);

    const NAMES: [(Self, &'static str); 3] = [
        (Self::PASSWORD, "pwd"),
        (Self::OTP, "otp"),
        (Self::FEDERATED, "fed"),
    ];

    /// Both sets together.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every method of `other` is in the set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether a second factor was used (multi-factor authentication).
    pub const fn is_multi_factor(self) -> bool {
        self.contains(Self::OTP)
    }

    /// The RFC 8176 names, in a stable order (`pwd`, `otp`).
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(m, _)| self.contains(*m))
            .map(|(_, n)| *n)
            .collect()
    }

    /// The set from RFC 8176 names; unknown names are ignored.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        names.into_iter().fold(Self::NONE, |acc, name| {
            Self::NAMES
                .iter()
                .find(|(_, n)| *n == name)
                .map_or(acc, |(m, _)| acc.with(*m))
        })
    }
}

/// What an access token is issued for; the service adds `iss`, `aud`, `iat`, `exp`, `jti`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessGrant {
    /// The account (`sub`).
    pub account_id: Uuid,
    /// The session (`sid`).
    pub session_id: Uuid,
    /// The active organization (`org`).
    pub org: Option<Uuid>,
    /// The impersonating account (`act.sub`).
    pub actor: Option<Uuid>,
    /// How the user authenticated (`amr`).
    pub amr: AuthMethods,
}

impl AccessGrant {
    /// A grant for `account_id` in `session_id`, with no organization and no actor.
    pub fn new(account_id: Uuid, session_id: Uuid) -> Self {
        Self {
            account_id,
            session_id,
            org: None,
            actor: None,
            amr: AuthMethods::NONE,
        }
    }

    /// Sets the active organization.
    pub fn org(mut self, org: Uuid) -> Self {
        self.org = Some(org);
        self
    }

    /// Sets the impersonating actor.
    pub fn actor(mut self, actor: Uuid) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Sets how the user authenticated (`amr`).
    pub fn amr(mut self, amr: AuthMethods) -> Self {
        self.amr = amr;
        self
    }
}

/// A freshly signed access token. `Debug` hides the token (it is a bearer credential).
#[derive(Clone)]
pub struct IssuedAccessToken {
    token: String,
    claims: AccessClaims,
}

impl IssuedAccessToken {
    /// The compact JWS to hand to the client.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Its claims.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }

    /// When it expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.claims.exp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl fmt::Debug for IssuedAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedAccessToken")
            .field("token", &"[redacted]")
            .field("claims", &self.claims)
            .finish()
    }
}

/// Issues and verifies access tokens. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AccessTokens {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    keys: SigningKeys,
    config: AccessTokenConfig,
    clock: Arc<dyn Clock>,
    verified: VerifiedTokens,
}

/// Above this many entries, the verified-token memo drops the expired ones, and starts over
/// when they were not enough (a bound on memory: a miss only costs one signature check).
const VERIFIED_MAX: usize = 10_000;

/// The claims of tokens whose signature, issuer and audience verified, keyed by the SHA-256
/// of the whole token: a client presents the same access token on every request for its
/// lifetime, and checking an Ed25519 signature is the largest cost of an authenticated
/// request once the session is answered from memory.
///
/// This changes nothing about what is accepted: the key set of an [`AccessTokens`] never
/// changes (rotating keys builds a new one, with an empty memo), a token that was valid once
/// under these keys, issuer and audience is valid under them forever, and the time checks
/// (`exp`, `nbf`, `iat`) run again on every call. Only tokens that verified are kept, so
/// invalid tokens cannot fill the memo, and it is keyed by a digest, so a lookup compares
/// digests, never token bytes.
#[derive(Debug, Default)]
struct VerifiedTokens {
    entries: std::sync::Mutex<std::collections::HashMap<[u8; 32], AccessClaims>>,
}

impl VerifiedTokens {
    fn get(&self, key: &[u8; 32]) -> Option<AccessClaims> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn insert(&self, key: [u8; 32], claims: AccessClaims, now: i64, leeway: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= VERIFIED_MAX {
            entries.retain(|_, c| now < c.exp.saturating_add(leeway));
            if entries.len() >= VERIFIED_MAX {
                entries.clear();
            }
        }
        entries.insert(key, claims);
    }
}

fn token_digest(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).into()
}

impl AccessTokens {
    /// An issuer/verifier over `keys`, reading the time from `clock` (share the kernel's
    /// clock). Fails on an invalid configuration.
    pub fn new(
        keys: SigningKeys,
        config: AccessTokenConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, helix_core::Error> {
        config.validate()?;
        Ok(Self {
            inner: Arc::new(Inner {
                keys,
                config,
                clock,
                verified: VerifiedTokens::default(),
            }),
        })
    }

    /// The signing keys.
    pub fn keys(&self) -> &SigningKeys {
        &self.inner.keys
    }

    /// The public JWKS (`/.well-known/jwks.json`).
    pub fn jwks(&self) -> Jwks {
        self.inner.keys.jwks()
    }

    /// Signs an access token for `grant` with the active key, valid for the configured TTL.
    pub fn issue_access(&self, grant: &AccessGrant) -> Result<IssuedAccessToken, TokenError> {
        let now = self.inner.clock.now().timestamp();
        let ttl = i64::try_from(self.inner.config.ttl_secs).map_err(|_| TokenError::Issue)?;
        self.sign(grant, now, now.saturating_add(ttl))
    }

    /// Signs an access token for `grant` that expires at `expires_at` instead of after the
    /// configured TTL: for sessions that have no refresh token (impersonation), whose one
    /// access token lasts the session. `expires_at` must be in the future and at most 24
    /// hours away ([`TokenError::Issue`] otherwise).
    pub fn issue_access_until(
        &self,
        grant: &AccessGrant,
        expires_at: DateTime<Utc>,
    ) -> Result<IssuedAccessToken, TokenError> {
        let now = self.inner.clock.now().timestamp();
        let exp = expires_at.timestamp();
        if exp <= now || exp - now > 24 * 3600 {
            return Err(TokenError::Issue);
        }
        self.sign(grant, now, exp)
    }

    fn sign(
        &self,
        grant: &AccessGrant,
        now: i64,
        exp: i64,
    ) -> Result<IssuedAccessToken, TokenError> {
        let claims = AccessClaims {
            iss: self.inner.config.issuer.clone(),
            aud: self.inner.config.audience.clone(),
            sub: grant.account_id,
            exp,
            iat: now,
            nbf: None,
            jti: Uuid::now_v7(),
            sid: grant.session_id,
            org: grant.org,
            act: grant.actor.map(|sub| ActorClaim { sub }),
            amr: grant.amr.names().into_iter().map(str::to_owned).collect(),
        };
        let token = jws::sign(&self.inner.keys, &claims)?;
        Ok(IssuedAccessToken { token, claims })
    }

    /// Verifies `token`: the header must be `alg: EdDSA` with a known `kid`, the signature
    /// must verify, `iss` and `aud` must match, and `exp`/`nbf`/`iat` must hold within the
    /// leeway. It does not check that the session is still active: ask the session service
    /// ([`crate::sessions::SessionService::is_active`]) with the `sid` claim.
    ///
    /// The result of the signature, issuer and audience checks is remembered per token (see
    /// `VerifiedTokens` in the source): a token presented again skips the signature check,
    /// never the time checks.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let config = &self.inner.config;
        let now = self.inner.clock.now().timestamp();
        let leeway = i64::try_from(config.leeway_secs).unwrap_or(0);
        // Refused before it is hashed, as before it is decoded.
        if token.len() > jws::MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let digest = token_digest(token);
        let claims = match self.inner.verified.get(&digest) {
            Some(claims) => claims,
            None => {
                let claims: AccessClaims = jws::verify(&self.inner.keys, token)?;
                if claims.iss != config.issuer {
                    return Err(TokenError::WrongIssuer);
                }
                if claims.aud != config.audience {
                    return Err(TokenError::WrongAudience);
                }
                self.inner
                    .verified
                    .insert(digest, claims.clone(), now, leeway);
                claims
            }
        };
        Self::check_times(claims, now, leeway)
    }

    fn check_times(
        claims: AccessClaims,
        now: i64,
        leeway: i64,
    ) -> Result<AccessClaims, TokenError> {
        if now >= claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        let not_before = claims.nbf.unwrap_or(claims.iat).max(claims.iat);
        if not_before > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}
