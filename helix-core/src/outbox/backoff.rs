//! Retry delays: exponential backoff with "equal jitter", capped.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use uuid::Uuid;

/// How long to wait before retrying a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failed attempt (before jitter).
    pub base: Duration,
    /// The largest delay.
    pub cap: Duration,
}

impl Backoff {
    /// The delay after `attempts` failed attempts (1 for the first failure) of `delivery_id`:
    /// `min(cap, base * 2^(attempts-1))`, of which the upper half is jittered. The jitter is
    /// derived from the delivery id and the attempt, so it spreads deliveries that failed
    /// together without making a retry schedule irreproducible.
    pub fn delay(&self, delivery_id: Uuid, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let full = self
            .base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.cap)
            .min(self.cap);
        let half = full / 2;
        let mut h = std::hash::DefaultHasher::new();
        delivery_id.hash(&mut h);
        attempts.hash(&mut h);
        // A fraction in [0, 1] of the jittered half, in 1/1024 steps.
        let frac = u32::try_from(h.finish() % 1025).unwrap_or(0);
        half + (full - half) * frac / 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps_with_bounded_jitter() {
        let b = Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
        };
        let id = Uuid::now_v7();
        for attempts in 1..40 {
            let full = (Duration::from_secs(2) * 2u32.pow(attempts.min(20) - 1))
                .min(Duration::from_secs(60));
            let d = b.delay(id, attempts);
            assert!(d >= full / 2 && d <= full, "attempt {attempts}: {d:?}");
        }
        assert_eq!(b.delay(id, 3), b.delay(id, 3));
        assert!(b.delay(id, 0) <= Duration::from_secs(2));
    }
}
