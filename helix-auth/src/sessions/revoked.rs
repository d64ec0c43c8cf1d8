//! The in-process set of revoked sessions: revocation on this node takes effect at once,
//! without waiting for the database.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Above this many entries, expired ones are pruned on insert.
const PRUNE_ABOVE: usize = 4096;

/// Revoked session ids, each kept until the session would have ended anyway.
#[derive(Debug, Default)]
pub(crate) struct RevokedSessions {
    entries: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

impl RevokedSessions {
    pub(crate) fn insert(
        &self,
        ids: impl IntoIterator<Item = Uuid>,
        keep_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            entries.insert(id, keep_until);
        }
        if entries.len() > PRUNE_ABOVE {
            entries.retain(|_, until| *until > now);
        }
    }

    pub(crate) fn contains(&self, id: Uuid) -> bool {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&id)
    }
}

/// Above this many entries the active-session cache starts over (a bound on memory; a
/// miss only costs one database read).
const ACTIVE_CACHE_MAX: usize = 100_000;

/// Sessions known to be active, each stamped with the notification feed's generation at the
/// time it was read (see [`helix_core::notify`]). An entry is only trusted while the feed is
/// live at that same generation, so no revocation announced while the feed was down can be
/// missed.
#[derive(Debug, Default)]
pub(crate) struct ActiveSessions {
    entries: Mutex<HashMap<Uuid, CachedSession>>,
}

#[derive(Debug, Clone, Copy)]
struct CachedSession {
    /// The earlier of the idle and absolute expiry when read.
    ends_at: DateTime<Utc>,
    generation: u64,
}

impl ActiveSessions {
    /// Whether `id` is cached as active at `now` under `generation`.
    pub(crate) fn is_active(&self, id: Uuid, generation: u64, now: DateTime<Utc>) -> bool {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .is_some_and(|e| e.generation == generation && now < e.ends_at)
    }

    pub(crate) fn insert(&self, id: Uuid, ends_at: DateTime<Utc>, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= ACTIVE_CACHE_MAX {
            entries.clear();
        }
        entries.insert(
            id,
            CachedSession {
                ends_at,
                generation,
            },
        );
    }

    pub(crate) fn remove(&self, ids: impl IntoIterator<Item = Uuid>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            entries.remove(&id);
        }
    }
}
