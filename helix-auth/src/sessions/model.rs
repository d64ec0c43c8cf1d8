//! Sessions, their metadata, and refresh tokens.

use std::fmt;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use helix_core::RequestMeta;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::tokens::AuthMethods;

/// Longest user agent kept, in characters.
const MAX_USER_AGENT_CHARS: usize = 512;

/// What kind of session, which sets its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A user's session: idle timeout, 12-hour absolute lifetime.
    Normal,
    /// A platform administrator's session: 4-hour absolute lifetime.
    Admin,
    /// Support impersonating a user: 30 minutes, no refresh token.
    Impersonation,
}

impl SessionKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Admin => "admin",
            Self::Impersonation => "impersonation",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(Self::Normal),
            "admin" => Some(Self::Admin),
            "impersonation" => Some(Self::Impersonation),
            _ => None,
        }
    }
}

/// Why a session ended early. Stored as `revoked_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// The user signed out of this session.
    Logout,
    /// The user (or an administrator) revoked it from a session list.
    Revoked,
    /// The password was changed.
    PasswordChanged,
    /// The password was reset with a reset token (every session ends).
    PasswordReset,
    /// A refresh token of the family was reused: the family may be stolen.
    ReuseDetected,
}

impl RevokeReason {
    /// The stored form (`logout`, `reuse_detected`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::ReuseDetected => "reuse_detected",
        }
    }
}

/// Where a session is started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMeta {
    /// The kind (lifetime) of the session; [`SessionKind::Impersonation`] is only started by
    /// [`crate::sessions::SessionService::start_impersonation`].
    pub kind: SessionKind,
    /// The client's user agent (truncated to 512 characters).
    pub user_agent: Option<String>,
    /// The client's IP address.
    pub ip: Option<IpAddr>,
    /// The organization the session starts in (the access token's `org`), if any.
    pub active_org_id: Option<Uuid>,
    /// How the user authenticated (the access token's `amr`).
    pub amr: AuthMethods,
}

impl SessionMeta {
    /// A normal session with no device information.
    pub fn normal() -> Self {
        Self {
            kind: SessionKind::Normal,
            user_agent: None,
            ip: None,
            active_org_id: None,
            amr: AuthMethods::NONE,
        }
    }

    /// A normal session from a request's user agent and IP.
    pub fn from_request(meta: &RequestMeta) -> Self {
        Self {
            kind: SessionKind::Normal,
            user_agent: meta.user_agent.clone(),
            ip: meta.ip,
            active_org_id: None,
            amr: AuthMethods::NONE,
        }
    }

    /// Starts the session in organization `org_id` (or in none).
    pub fn in_organization(mut self, org_id: Option<Uuid>) -> Self {
        self.active_org_id = org_id;
        self
    }

    /// Records how the user authenticated (the access token's `amr`; kept by refreshes).
    pub fn authenticated_with(mut self, amr: AuthMethods) -> Self {
        self.amr = amr;
        self
    }

    /// Makes it an admin session (4-hour lifetime).
    pub fn admin(mut self) -> Self {
        self.kind = SessionKind::Admin;
        self
    }

    pub(crate) fn user_agent_truncated(&self) -> Option<String> {
        self.user_agent
            .as_deref()
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect())
    }
}

/// A session (one signed-in device). Serializable for "my sessions" lists; it holds no
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Session id (the `sid` claim; also the refresh-token family id).
    pub id: Uuid,
    /// The signed-in account.
    pub account_id: Uuid,
    /// Kind.
    pub kind: SessionKind,
    /// For impersonation, the support account acting as `account_id`.
    pub actor_account_id: Option<Uuid>,
    /// Device user agent.
    pub user_agent: Option<String>,
    /// Client IP at sign-in.
    pub ip: Option<IpAddr>,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last refresh.
    pub last_seen_at: DateTime<Utc>,
    /// When it ends unless refreshed before.
    pub idle_expires_at: DateTime<Utc>,
    /// When it ends regardless.
    pub absolute_expires_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked (`logout`, `reuse_detected`, ...).
    pub revoked_reason: Option<String>,
    /// The organization selected in the session (the access token's `org`), if any. Kept by
    /// refreshes; changed by [`crate::sessions::SessionService::set_active_org`].
    pub active_org_id: Option<Uuid>,
    /// How the user authenticated (the access token's `amr`); a second factor verified later
    /// in the session is added by [`crate::sessions::SessionService::add_auth_methods`].
    #[serde(skip)]
    pub amr: AuthMethods,
}

impl Session {
    /// Whether the session is usable at `now`: not revoked, not idle, not past its lifetime.
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

/// An opaque refresh token: 256 random bits, base64url. Only its SHA-256 is stored. `Debug`
/// hides it; the secret is wiped on drop.
#[derive(Clone)]
pub struct RefreshToken {
    secret: Zeroizing<String>,
    expires_at: DateTime<Utc>,
}

impl RefreshToken {
    pub(crate) fn generate(expires_at: DateTime<Utc>) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self {
            secret: Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())),
            expires_at,
        }
    }

    /// The same token with another expiry (the stored one, when the database computed it).
    pub(crate) fn expiring_at(mut self, expires_at: DateTime<Utc>) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// The token to hand to the client (once; it cannot be recovered from the database).
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// When it expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    pub(crate) fn hash(&self) -> String {
        hash_token(&self.secret)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken")
            .field("secret", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The stored form of a refresh token: hex SHA-256 (the token has 256 bits of entropy, so a
/// fast hash is enough and lookups stay indexable).
pub(crate) fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` has the shape of a token this crate issues (43 base64url characters).
pub(crate) fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
