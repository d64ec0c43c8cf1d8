//! [`ApiKeyConfig`]: the server key and the limits of API keys.

use serde::Deserialize;

use super::key::HmacKey;

/// Settings of API keys. `hash_key` is a secret: `Debug` redacts it and it is never
/// serialized.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeyConfig {
    /// The server key of the keyed hash (base64, at least 32 bytes). Required:
    /// [`super::ApiKeyService::new`] refuses to start without it. Rotating it invalidates
    /// every existing key.
    pub hash_key: Option<HmacKey>,
    /// Most scopes one key may carry.
    pub max_scopes: usize,
    /// Most live (not revoked) keys one owner may hold.
    pub max_keys_per_owner: u64,
    /// `last_used_at` is written at most once per this many seconds per key.
    pub last_used_interval_secs: u64,
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        Self {
            hash_key: None,
            max_scopes: 32,
            max_keys_per_owner: 100,
            last_used_interval_secs: 60,
        }
    }
}
