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
