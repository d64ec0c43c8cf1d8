//! The GCRA arithmetic, shared by the in-process store and mirrored by the Redis script.
//!
//! State is one number per key, the theoretical arrival time (TAT) in microseconds since the
//! Unix epoch. With emission interval `T = period / rate` and burst `B`:
//!
//! - `tat = max(stored_tat, now)`, `new_tat = tat + T * cost`, `allow_at = new_tat - T * B`;
//! - the request is allowed when `now >= allow_at`, and then `new_tat` is stored;
//! - otherwise nothing is stored and the request may be retried after `allow_at - now`;
//! - `remaining = floor((now - tat_after + T * B) / T)`, `reset_after = tat_after - now`.
//!
//! A key whose TAT is in the past is indistinguishable from an absent key, so state can be
//! dropped (or expire in Redis) once `now >= tat`.

use super::quota::{Decision, Quota};

/// The outcome of one GCRA step: the decision and the TAT to store (`None`: store nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) decision: Decision,
    pub(crate) new_tat: Option<i64>,
}

/// One GCRA step for a key whose stored TAT is `stored_tat`, at `now_us`.
pub(crate) fn step(stored_tat: Option<i64>, now_us: i64, quota: &Quota, cost: u32) -> Step {
    let interval = quota.emission_interval_us();
    let burst = i64::from(quota.burst());
    let tolerance = interval.saturating_mul(burst);
    let tat = stored_tat.map_or(now_us, |t| t.max(now_us));
    let new_tat = tat.saturating_add(interval.saturating_mul(i64::from(cost)));
    let allow_at = new_tat.saturating_sub(tolerance);
    let allowed = now_us >= allow_at;
    let after = if allowed { new_tat } else { tat };
    let remaining = ((now_us - after).saturating_add(tolerance) / interval).clamp(0, burst);
    let retry_after = if allowed { 0 } else { allow_at - now_us };
    Step {
        decision: Decision::from_micros(
            allowed,
            quota.burst(),
            u32::try_from(remaining).unwrap_or(0),
            after - now_us,
            retry_after,
        ),
        new_tat: allowed.then_some(new_tat),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn burst_then_one_per_interval() {
        let q = Quota::per_second(1).with_burst(3);
        let mut tat = None;
        for expected_remaining in [2, 1, 0] {
            let s = step(tat, 0, &q, 1);
            assert!(s.decision.allowed);
            assert_eq!(s.decision.remaining, expected_remaining);
            tat = s.new_tat;
        }
        let s = step(tat, 0, &q, 1);
        assert!(!s.decision.allowed);
        assert_eq!(s.decision.retry_after, Duration::from_secs(1));
        assert_eq!(s.decision.reset_after, Duration::from_secs(3));
        assert_eq!(s.new_tat, None);
        let s = step(tat, 1_000_000, &q, 1);
        assert!(s.decision.allowed);
        assert_eq!(s.decision.remaining, 0);
    }
}
