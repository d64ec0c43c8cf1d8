//! The storage abstraction behind the limiter.

use async_trait::async_trait;

use super::quota::{Decision, Quota, RateKey};

/// A store failed to answer (unreachable, timed out, unexpected reply).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached or did not answer in time.
    #[error("rate-limit store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store answered something unexpected.
    #[error("rate-limit store protocol error: {0}")]
    Protocol(String),
}

/// Where GCRA state lives. One atomic step per call: read the key's state, decide, and
/// store the new state only when the request is allowed.
///
/// Implementations: [`super::InMemoryStore`] (one node) and, with the `redis` feature,
/// `RedisStore` (many nodes).
#[async_trait]
pub trait RateLimitStore: Send + Sync + std::fmt::Debug {
    /// Counts `cost` requests against `key` under `quota`, atomically, and answers the
    /// decision.
    async fn acquire(
        &self,
        key: &RateKey,
        quota: &Quota,
        cost: u32,
    ) -> Result<Decision, StoreError>;
}

#[async_trait]
impl<S: RateLimitStore + ?Sized> RateLimitStore for std::sync::Arc<S> {
    async fn acquire(
        &self,
        key: &RateKey,
        quota: &Quota,
        cost: u32,
    ) -> Result<Decision, StoreError> {
        (**self).acquire(key, quota, cost).await
    }
}
