//! API-key records, the input of a new key, and the principal a key resolves to.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A stored API key, without its secret or hash (they are never read back out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// The key id (also the middle part of the key).
    pub id: Uuid,
    /// The opaque owner reference (the reference server: `org:<uuid>`).
    pub owner: String,
    /// A human label.
    pub name: String,
    /// The scopes, sorted, `resource:action`.
    pub scopes: Vec<String>,
    /// The account that created it, when a user did.
    pub created_by: Option<Uuid>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (at most once per minute precision).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key to create: see [`super::ApiKeyService::create`].
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The owner reference (from the host, never from the request body).
    pub owner: String,
    /// A label, 1–100 characters.
    pub name: String,
    /// `resource:action` scopes, at least one.
    pub scopes: Vec<String>,
    /// Expiry; must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewApiKey {
    /// A key of `owner` named `name` with `scopes`, without expiry.
    pub fn new(
        owner: impl Into<String>,
        name: impl Into<String>,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            owner: owner.into(),
            name: name.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            expires_at: None,
        }
    }

    /// Sets the expiry.
    #[must_use]
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// Who a valid API key is: the key, its owner and its scopes. The request authenticator
/// puts it into the request extensions; its actor is [`helix_core::Actor::ApiKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyPrincipal {
    /// The key id.
    pub key_id: Uuid,
    /// The owner reference.
    pub owner: String,
    /// The key's scopes.
    pub scopes: Vec<String>,
}

impl ApiKeyPrincipal {
    /// Whether the key carries `scope` (exact match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}
