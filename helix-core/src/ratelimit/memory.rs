//! The in-process store: one node, no dependencies.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::gcra;
use super::quota::{Decision, Quota, RateKey};
use super::store::{RateLimitStore, StoreError};
use crate::ids::{Clock, SystemClock};

const DEFAULT_SHARDS: usize = 32;
const DEFAULT_MAX_KEYS: usize = 1_000_000;
const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Shard {
    tats: HashMap<String, i64>,
    last_sweep_us: i64,
}

impl Shard {
    fn sweep(&mut self, now_us: i64) -> usize {
        let before = self.tats.len();
        self.tats.retain(|_, tat| *tat > now_us);
        self.last_sweep_us = now_us;
        before - self.tats.len()
    }
}

/// Rate-limit state in this process's memory: right for one node, wrong for several (each
/// instance would grant the full quota; use the Redis store there).
///
/// Keys live in a fixed number of shards, each a `Mutex<HashMap>` held only for the few
/// instructions of one GCRA step (never across an `.await`). Idle keys (whose bucket is full
/// again) are evicted by a sweep that each shard runs on access at most once per sweep
/// interval (default 30 s), or on demand with [`InMemoryStore::evict_idle`]; no background
/// task is needed. The number of keys is capped (default 1,000,000): when a shard is full
/// even after a sweep, a new key is answered as a fresh key without being stored, which is
/// what it would have been answered anyway, so a flood of distinct keys cannot exhaust memory.
#[derive(Debug)]
pub struct InMemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: std::collections::hash_map::RandomState,
    clock: Arc<dyn Clock>,
    sweep_interval_us: i64,
    max_keys_per_shard: usize,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryStore {
    /// A store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A store reading time from `clock` (a [`crate::ManualClock`] in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            shards: (0..DEFAULT_SHARDS)
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
            hasher: Default::default(),
            clock,
            sweep_interval_us: micros(DEFAULT_SWEEP_INTERVAL),
            max_keys_per_shard: DEFAULT_MAX_KEYS / DEFAULT_SHARDS,
        }
    }

    /// Sets how often each shard sweeps idle keys (default 30 s).
    pub fn with_sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval_us = micros(interval);
        self
    }

    /// Sets the maximum number of keys kept (default 1,000,000; at least one per shard).
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys_per_shard = (max_keys / self.shards.len()).max(1);
        self
    }

    /// The number of keys currently stored.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).tats.len()).sum()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every idle key now; returns how many were dropped.
    pub fn evict_idle(&self) -> usize {
        let now = self.now_us();
        self.shards.iter().map(|s| lock(s).sweep(now)).sum()
    }

    fn now_us(&self) -> i64 {
        self.clock.now().timestamp_micros()
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        let h = self.hasher.hash_one(key) as usize;
        &self.shards[h % self.shards.len()]
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl RateLimitStore for InMemoryStore {
    async fn acquire(
        &self,
        key: &RateKey,
        quota: &Quota,
        cost: u32,
    ) -> Result<Decision, StoreError> {
        let storage_key = key.storage_key();
        let now = self.now_us();
        let mut shard = lock(self.shard(&storage_key));
        if now.saturating_sub(shard.last_sweep_us) >= self.sweep_interval_us {
            shard.sweep(now);
        }
        let stored = shard.tats.get(&storage_key).copied();
        let step = gcra::step(stored, now, quota, cost);
        if let Some(tat) = step.new_tat {
            match shard.tats.get_mut(&storage_key) {
                Some(slot) => *slot = tat,
                None => {
                    if shard.tats.len() >= self.max_keys_per_shard {
                        shard.sweep(now);
                    }
                    if shard.tats.len() < self.max_keys_per_shard {
                        shard.tats.insert(storage_key, tat);
                    }
                }
            }
        }
        Ok(step.decision)
    }
}
