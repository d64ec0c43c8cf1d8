//! The per-IP limit on refused API keys: a client that keeps presenting malformed, unknown,
//! wrong, revoked or expired `hx_` keys is answered 429 with `Retry-After`.
//!
//! Each refusal counts against the client address in the kernel's rate limiter (class
//! [`API_KEY_REFUSAL_CLASS`]; with a Redis store every instance shares the count). The
//! refusal that goes over the quota answers 429 instead of 401, is recorded as an
//! `api_key_refused` security event with `data.reason = "rate_limited"` (besides the
//! limiter's `rate_limit.exceeded` log line), and blocks the address on this instance until
//! its `Retry-After`: while blocked, every API key it presents, valid or not, is answered
//! 429 before any database work, so the flood costs neither reads nor security-event
//! writes, and a list of leaked keys cannot be sorted into live and dead ones at full speed.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use helix_core::RequestMeta;
use helix_core::ratelimit::{Quota, RateKey, RateLimiter, Subject};

use super::ApiKeyService;

/// The rate-limit class of refused API keys, counted per client IP.
pub const API_KEY_REFUSAL_CLASS: &str = "auth.api_key_refused";

/// The default quota of refused API keys per client IP: 10 per minute, burst 10.
pub const API_KEY_REFUSAL_QUOTA: Quota = Quota::per_minute(10);

/// The most addresses blocked at once on one instance (beyond, a new block is not
/// remembered locally and the limiter answers each refusal on its own).
const MAX_BLOCKED: usize = 10_000;

/// The refusal quota and this instance's blocked addresses. Cheap to clone (shared).
#[derive(Clone)]
pub struct RefusedKeyLimit {
    quota: Quota,
    blocked: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
}

impl fmt::Debug for RefusedKeyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefusedKeyLimit")
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl Default for RefusedKeyLimit {
    fn default() -> Self {
        Self::new(API_KEY_REFUSAL_QUOTA)
    }
}

impl RefusedKeyLimit {
    /// A limit of `quota` refused keys per client IP.
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            blocked: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    fn key(ip: IpAddr) -> RateKey {
        RateKey::new(API_KEY_REFUSAL_CLASS, Subject::Ip(ip))
    }

    fn blocked(&self) -> MutexGuard<'_, HashMap<String, DateTime<Utc>>> {
        // The map holds plain values: a panic elsewhere cannot leave it inconsistent.
        match self.blocked.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Before a key is resolved: [`helix_core::Error::RateLimited`] while `ip` is blocked
    /// on this instance.
    pub(crate) fn check(&self, ip: IpAddr, now: DateTime<Utc>) -> Result<(), helix_core::Error> {
        let storage = Self::key(ip).storage_key();
        let mut blocked = self.blocked();
        match blocked.get(&storage) {
            Some(until) if *until > now => {
                let ms = u64::try_from((*until - now).num_milliseconds()).unwrap_or(0);
                Err(helix_core::Error::RateLimited {
                    retry_after_secs: ms.div_ceil(1000).max(1),
                })
            }
            Some(_) => {
                blocked.remove(&storage);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// After a refusal from `ip`: counts it; over the quota, blocks the address until the
    /// limiter's `Retry-After`, records the security event and answers
    /// [`helix_core::Error::RateLimited`]. A limiter that cannot answer never turns the
    /// refusal into anything but the usual 401 (it logs the failure itself).
    pub(crate) async fn count(
        &self,
        limiter: &RateLimiter,
        keys: &ApiKeyService,
        meta: &RequestMeta,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<(), helix_core::Error> {
        let key = Self::key(ip);
        let Ok(decision) = limiter.check(&key, &self.quota).await else {
            return Ok(());
        };
        if decision.allowed {
            return Ok(());
        }
        let retry_after_secs = decision.retry_after_secs().max(1);
        let until = now
            + chrono::Duration::milliseconds(
                i64::try_from(decision.retry_after.as_millis()).unwrap_or(i64::MAX / 2),
            );
        {
            let mut blocked = self.blocked();
            if blocked.len() >= MAX_BLOCKED {
                blocked.retain(|_, until| *until > now);
            }
            if blocked.len() < MAX_BLOCKED {
                blocked.insert(key.storage_key(), until);
            }
        }
        keys.record_rate_limited(meta, retry_after_secs).await;
        Err(helix_core::Error::RateLimited { retry_after_secs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_expire() {
        let limit = RefusedKeyLimit::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let now = Utc::now();
        assert!(limit.check(ip, now).is_ok());
        limit.blocked().insert(
            RefusedKeyLimit::key(ip).storage_key(),
            now + chrono::Duration::seconds(30),
        );
        match limit.check(ip, now) {
            Err(helix_core::Error::RateLimited { retry_after_secs }) => {
                assert_eq!(retry_after_secs, 30);
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        assert!(limit.check(ip, now + chrono::Duration::seconds(31)).is_ok());
        assert!(limit.blocked().is_empty(), "an expired block is forgotten");
    }
}
