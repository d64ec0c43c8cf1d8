//! Interning tables of the compiled index: object ids and user ids mapped to dense `u32`s.
//!
//! Both tables keep their keys in flat arrays (the object ids concatenated into one string
//! with an end offset per object, the user ids in one `Vec<Uuid>`) and find a key through an
//! open-addressing table of `u32` slots, so an interned key costs no heap allocation of its
//! own: about 4 bytes of kind, 4 of offset and the id's bytes per object, 16 bytes per user,
//! plus 5 to 11 bytes of slots at a load factor between 3/8 and 3/4. The hashes are keyed
//! per table ([`RandomState`]): ids come from tenants' input.

use std::hash::{BuildHasher, RandomState};

use uuid::Uuid;

const EMPTY: u32 = u32::MAX;

/// An open-addressing table of indices into a key array owned by the caller, probed
/// triangularly (every slot of the power-of-two table is reached), at most 3/4 full.
#[derive(Debug, Default)]
struct Slots {
    slots: Box<[u32]>,
    len: usize,
}

impl Slots {
    /// The index whose key `eq` accepts, among those stored under `hash`.
    fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut pos = hash as usize & mask;
        let mut step = 0;
        // The table is never full, so an empty slot ends every probe sequence.
        loop {
            let v = *self.slots.get(pos)?;
            if v == EMPTY {
                return None;
            }
            if eq(v) {
                return Some(v);
            }
            step += 1;
            pos = (pos + step) & mask;
        }
    }

    /// Stores `value` (not present yet) under `hash`; `rehash` gives the hash of a stored
    /// index when the table grows.
    fn insert(&mut self, hash: u64, value: u32, rehash: impl Fn(u32) -> u64) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let cap = (self.slots.len() * 2).max(8);
            let old = std::mem::replace(&mut self.slots, vec![EMPTY; cap].into_boxed_slice());
            for v in old.iter().copied().filter(|v| *v != EMPTY) {
                self.place(rehash(v), v);
            }
        }
        self.place(hash, value);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, value: u32) {
        let mask = self.slots.len() - 1;
        let mut pos = hash as usize & mask;
        let mut step = 0;
        while let Some(slot) = self.slots.get_mut(pos) {
            if *slot == EMPTY {
                *slot = value;
                return;
            }
            step += 1;
            pos = (pos + step) & mask;
        }
    }

    fn heap_bytes(&self) -> usize {
        self.slots.len() * 4
    }
}

/// Objects by dense index: the kind and id of each, and the way back from `(kind, id)`.
#[derive(Debug, Default)]
pub(crate) struct ObjectTable {
    kinds: Vec<u32>,
    /// End offset of each object's id in `text` (it starts where the previous one ends).
    ends: Vec<u32>,
    text: String,
    slots: Slots,
    hasher: RandomState,
}

impl ObjectTable {
    pub(crate) fn len(&self) -> usize {
        self.kinds.len()
    }

    pub(crate) fn kind(&self, i: u32) -> Option<u32> {
        self.kinds.get(i as usize).copied()
    }

    pub(crate) fn id(&self, i: u32) -> Option<&str> {
        let i = i as usize;
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => *self.ends.get(i - 1)? as usize,
        };
        self.text.get(start..end)
    }

    /// The objects of kind `k`, ascending.
    pub(crate) fn of_kind(&self, k: u32) -> impl Iterator<Item = u32> + '_ {
        self.kinds
            .iter()
            .enumerate()
            .filter(move |(_, kind)| **kind == k)
            .map(|(i, _)| i as u32)
    }

    fn hash(&self, kind: u32, id: &str) -> u64 {
        self.hasher.hash_one((kind, id))
    }

    pub(crate) fn get(&self, kind: u32, id: &str) -> Option<u32> {
        let h = self.hash(kind, id);
        self.slots
            .find(h, |i| self.kind(i) == Some(kind) && self.id(i) == Some(id))
    }

    /// The index of `(kind, id)`, added if new; `None` when the table is full (2^31
    /// objects or 4 GiB of ids).
    pub(crate) fn intern(&mut self, kind: u32, id: &str) -> Option<u32> {
        if let Some(i) = self.get(kind, id) {
            return Some(i);
        }
        let i = u32::try_from(self.kinds.len())
            .ok()
            .filter(|i| *i < u32::MAX / 2)?;
        let end = u32::try_from(self.text.len() + id.len()).ok()?;
        self.text.push_str(id);
        self.ends.push(end);
        self.kinds.push(kind);
        let h = self.hash(kind, id);
        let Self {
            kinds,
            ends,
            text,
            slots,
            hasher,
        } = self;
        slots.insert(h, i, |j| {
            let j = j as usize;
            let start = if j == 0 { 0 } else { ends[j - 1] as usize };
            hasher.hash_one((kinds[j], &text[start..ends[j] as usize]))
        });
        Some(i)
    }

    /// Drops the spare capacity left by building.
    pub(crate) fn shrink(&mut self) {
        self.kinds.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.text.shrink_to_fit();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.kinds.capacity() * 4
            + self.ends.capacity() * 4
            + self.text.capacity()
            + self.slots.heap_bytes()
    }
}

/// User ids by dense index, and the way back.
#[derive(Debug, Default)]
pub(crate) struct UuidTable {
    ids: Vec<Uuid>,
    slots: Slots,
    hasher: RandomState,
}

impl UuidTable {
    pub(crate) fn ids(&self) -> &[Uuid] {
        &self.ids
    }

    pub(crate) fn get(&self, id: Uuid) -> Option<u32> {
        let h = self.hasher.hash_one(id.as_u128());
        self.slots
            .find(h, |i| self.ids.get(i as usize) == Some(&id))
    }

    /// The index of `id`, added if new; `None` past 2^31 ids.
    pub(crate) fn intern(&mut self, id: Uuid) -> Option<u32> {
        if let Some(i) = self.get(id) {
            return Some(i);
        }
        let i = u32::try_from(self.ids.len())
            .ok()
            .filter(|i| *i < u32::MAX / 2)?;
        self.ids.push(id);
        let Self { ids, slots, hasher } = self;
        let h = hasher.hash_one(id.as_u128());
        slots.insert(h, i, |j| hasher.hash_one(ids[j as usize].as_u128()));
        Some(i)
    }

    pub(crate) fn shrink(&mut self) {
        self.ids.shrink_to_fit();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.ids.capacity() * 16 + self.slots.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_and_grow() {
        let mut t = ObjectTable::default();
        for i in 0..10_000u32 {
            assert_eq!(t.intern(i % 3, &format!("o{i}")), Some(i));
        }
        assert_eq!(t.intern(1, "o1"), Some(1));
        assert_eq!(t.len(), 10_000);
        for i in 0..10_000u32 {
            assert_eq!(t.get(i % 3, &format!("o{i}")), Some(i));
            assert_eq!(t.id(i), Some(format!("o{i}").as_str()));
            assert_eq!(t.kind(i), Some(i % 3));
        }
        assert_eq!(t.get(0, "o1"), None, "same id, other kind");
        assert_eq!(t.get(1, "nope"), None);
        assert_eq!(t.of_kind(2).take(2).collect::<Vec<_>>(), vec![2, 5]);
        assert_eq!(t.id(10_000), None);
        // Ids of different lengths, including the empty one.
        assert_eq!(t.intern(7, ""), Some(10_000));
        assert_eq!(t.id(10_000), Some(""));
        assert_eq!(t.get(7, ""), Some(10_000));
    }

    #[test]
    fn users_round_trip() {
        let mut t = UuidTable::default();
        assert_eq!(t.get(Uuid::nil()), None);
        for i in 0..5_000u128 {
            assert_eq!(t.intern(Uuid::from_u128(i << 64)), Some(i as u32));
        }
        assert_eq!(t.intern(Uuid::from_u128(7 << 64)), Some(7));
        assert_eq!(t.get(Uuid::from_u128(4_999 << 64)), Some(4_999));
        assert_eq!(t.get(Uuid::from_u128(5_000 << 64)), None);
        assert_eq!(t.ids().len(), 5_000);
    }
}
