//! The decision cache of one compiled tenant index.
//!
//! It lives inside the [`TenantIndex`](super::TenantIndex) of one revision, so its key is
//! every input of a check (user, permission, resource) plus, implicitly, the organization
//! and its revision: loading a new revision swaps in a new index with an empty cache and
//! the old entries become unreachable. It is bounded: entries are spread over shards,
//! each holding two generations; when the young generation of a shard is full the old one
//! is dropped and the young one becomes old (an approximation of LRU: an entry read from
//! the old generation is promoted).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::{Mutex, PoisonError};

use uuid::Uuid;

use crate::catalog::PermId;
use crate::model::Resource;

const SHARDS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    user: Uuid,
    perm: PermId,
    resource: Resource,
}

#[derive(Debug, Default)]
struct Shard {
    young: HashMap<Key, bool>,
    old: HashMap<Key, bool>,
}

/// A bounded map from check inputs to decisions.
#[derive(Debug)]
pub(crate) struct DecisionCache {
    shards: Vec<Mutex<Shard>>,
    /// Entries per generation per shard (0: the cache is off).
    per_shard: usize,
    hasher: RandomState,
}

impl DecisionCache {
    /// A cache of about `capacity` entries (up to twice that across both generations).
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        Self {
            shards: if per_shard == 0 {
                Vec::new()
            } else {
                (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect()
            },
            per_shard,
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, user: Uuid, perm: PermId, resource: &Resource) -> Option<&Mutex<Shard>> {
        if self.shards.is_empty() {
            return None;
        }
        let mut h = self.hasher.build_hasher();
        user.hash(&mut h);
        perm.hash(&mut h);
        resource.hash(&mut h);
        self.shards.get(h.finish() as usize % SHARDS)
    }

    pub(crate) fn get(&self, user: Uuid, perm: PermId, resource: &Resource) -> Option<bool> {
        let shard = self.shard(user, perm, resource)?;
        let key = Key {
            user,
            perm,
            resource: resource.clone(),
        };
        let mut s = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = s.young.get(&key) {
            return Some(*v);
        }
        let v = s.old.remove(&key)?;
        self.insert_locked(&mut s, key, v);
        Some(v)
    }

    pub(crate) fn insert(&self, user: Uuid, perm: PermId, resource: &Resource, allowed: bool) {
        let Some(shard) = self.shard(user, perm, resource) else {
            return;
        };
        let key = Key {
            user,
            perm,
            resource: resource.clone(),
        };
        let mut s = shard.lock().unwrap_or_else(PoisonError::into_inner);
        self.insert_locked(&mut s, key, allowed);
    }

    fn insert_locked(&self, s: &mut Shard, key: Key, v: bool) {
        if s.young.len() >= self.per_shard {
            s.old = std::mem::take(&mut s.young);
        }
        s.young.insert(key, v);
    }

    /// Entries currently held (both generations).
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|m| {
                let s = m.lock().unwrap_or_else(PoisonError::into_inner);
                s.young.len() + s.old.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_promotes() {
        let c = DecisionCache::new(16);
        let u = Uuid::nil();
        for i in 0..1000u32 {
            c.insert(u, PermId(i), &Resource::Tenant, i % 2 == 0);
        }
        assert!(c.len() <= 2 * 16 + SHARDS * 2, "{}", c.len());
        c.insert(u, PermId(5000), &Resource::Tenant, true);
        assert_eq!(c.get(u, PermId(5000), &Resource::Tenant), Some(true));
        assert_eq!(c.get(Uuid::max(), PermId(5000), &Resource::Tenant), None);
        let off = DecisionCache::new(0);
        off.insert(u, PermId(1), &Resource::Tenant, true);
        assert_eq!(off.get(u, PermId(1), &Resource::Tenant), None);
    }
}
