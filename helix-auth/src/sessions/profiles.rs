//! The in-process cache of account profiles (what `GET /api/v1/auth/me` answers), trusted
//! only while the notification feed proves that no change was missed.
//!
//! On PostgreSQL a trigger announces every change of an account's email or verification
//! state, and every deletion, on [`ACCOUNT_CHANNEL`]
//! (migration `helix_auth_0910_account_change_notify`);
//! [`super::SessionService::follow_revocations`] listens to it on the same connection as the
//! revocations, and drops the account from this cache. An entry is stamped with the feed's
//! generation when it is read from the database and only served while the feed is live at
//! that same generation (see [`helix_core::notify`]): a change made by another instance is
//! served stale at most until its notification arrives, and never beyond the feed's
//! heartbeat tolerance (1 s). Without a live feed (SQLite, or the listener not running) the
//! cache is off and every read goes to the database.
//!
//! A read that races with a change cannot put the old value back: every invalidation bumps
//! a counter, and an entry read before the latest invalidation is not stored.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use crate::accounts::AccountProfile;

/// The channel account changes are announced on (by a trigger on `auth_accounts`,
/// PostgreSQL). The payload is the account id.
pub const ACCOUNT_CHANNEL: &str = "helix_auth_account_changed";

/// Above this many entries a cache starts over (a bound on memory; a miss only costs one
/// database read).
const MAX_ENTRIES: usize = 50_000;

/// The profile cache: account id → profile.
pub(crate) type ProfileCache = FeedCache<AccountProfile>;

/// Values keyed by an id (an account, an organization), each stamped with the notification
/// feed's generation when it was read, and dropped when the id's change is announced.
#[derive(Debug)]
pub(crate) struct FeedCache<V> {
    inner: Mutex<Entries<V>>,
}

impl<V> Default for FeedCache<V> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                invalidations: 0,
            }),
        }
    }
}

#[derive(Debug)]
struct Entries<V> {
    map: HashMap<Uuid, (V, u64)>,
    /// Bumped by every invalidation.
    invalidations: u64,
}

impl<V: Clone> FeedCache<V> {
    /// The value of `id` if it was cached under `generation`.
    pub(crate) fn get(&self, id: Uuid, generation: u64) -> Option<V> {
        let entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .map
            .get(&id)
            .filter(|(_, g)| *g == generation)
            .map(|(v, _)| v.clone())
    }

    /// A stamp to take before reading the database; pass it to [`FeedCache::insert`].
    pub(crate) fn stamp(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .invalidations
    }

    /// Caches `value` of `id` read under `generation`, unless an invalidation happened since
    /// `stamp` was taken (the read may predate the change).
    pub(crate) fn insert(&self, id: Uuid, value: V, generation: u64, stamp: u64) {
        let mut entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if entries.invalidations != stamp {
            return;
        }
        if entries.map.len() >= MAX_ENTRIES {
            entries.map.clear();
        }
        entries.map.insert(id, (value, generation));
    }

    /// Drops `ids` (changed).
    pub(crate) fn invalidate(&self, ids: impl IntoIterator<Item = Uuid>) {
        let mut entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        entries.invalidations = entries.invalidations.wrapping_add(1);
        for id in ids {
            entries.map.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(id: Uuid, verified: bool) -> AccountProfile {
        AccountProfile {
            account_id: id,
            email: "a@example.com".into(),
            email_verified: verified,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn entries_hold_only_under_their_generation() {
        let cache = ProfileCache::default();
        let id = Uuid::now_v7();
        let stamp = cache.stamp();
        cache.insert(id, profile(id, true), 3, stamp);
        assert!(cache.get(id, 3).is_some());
        assert!(cache.get(id, 4).is_none());
        assert!(cache.get(Uuid::now_v7(), 3).is_none());
    }

    #[test]
    fn a_read_older_than_an_invalidation_is_not_stored() {
        let cache = ProfileCache::default();
        let id = Uuid::now_v7();
        let stamp = cache.stamp();
        // The account changes (and is announced) while the old row is being read.
        cache.invalidate([id]);
        cache.insert(id, profile(id, false), 1, stamp);
        assert!(cache.get(id, 1).is_none());
        // A read that starts after the change is stored.
        let stamp = cache.stamp();
        cache.insert(id, profile(id, true), 1, stamp);
        assert_eq!(cache.get(id, 1).map(|p| p.email_verified), Some(true));
        cache.invalidate([id]);
        assert!(cache.get(id, 1).is_none());
    }
}
