//! The store's side of twin replication: applying the twin's writes by version (higher wins,
//! a deterministic tie-break on equal versions), delete tombstones so an older write cannot
//! resurrect a key, and a resumable scan of every item for full copies and key dumps.

use super::Store;
use crate::record::{self, MutationRef};
use crate::storage::clock::Life;
use crate::storage::hash::hash_key;
use crate::storage::item::{self, FETCHED, USED};
use crate::storage::types::MAX_KEY_LEN;

/// One item's metadata, for `lru_crawler metadump`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemMeta {
    pub key: Vec<u8>,
    /// Absolute unix seconds, 0 = never.
    pub exptime: u32,
    pub cas: u64,
    pub fetched: bool,
    pub class: u32,
    pub size: u32,
}

impl Store {
    /// Replication: this node's id, the low byte of every version it makes.
    pub fn set_node_id(&mut self, id: u8) {
        self.cfg.node_id = id;
        self.clock.set_node_id(id);
    }

    /// Replication: deletes leave a tombstone for `secs` (0, the default, keeps none).
    pub fn set_tombstone_ttl(&mut self, secs: u32) {
        self.tombstones.ttl_secs = secs;
    }

    pub fn tombstone_count(&self) -> usize {
        self.tombstones.map.len()
    }

    /// Logs item `h` as a write carrying a fresh version. Used for touches: memcached keeps
    /// the CAS on touch, but the twin must see a newer version to take the new expiry.
    pub(crate) fn log_touch(&mut self, h: u32) {
        if !self.log.is_on() {
            return;
        }
        let version = self.clock.next_version();
        self.log_item_as(h, version);
    }

    pub(crate) fn record_tombstone(&mut self, key: &[u8], version: u64) {
        let now = self.clock.now_secs;
        self.tombstones.put(key, version, now);
    }

    /// Applies a write from the twin if it is newer than what this store holds for the key
    /// (a live, dead or deleted item). Never logged, so it is not sent back. Returns whether
    /// it changed anything.
    pub fn apply_remote<'a>(&mut self, m: impl Into<MutationRef<'a>>) -> bool {
        let m = m.into();
        let hash = m.key().map_or(0, hash_key);
        self.apply_remote_hashed(m, hash)
    }

    /// [`Store::apply_remote`] with the key's `hash_key` already known (the receiver routes
    /// by it).
    pub fn apply_remote_hashed(&mut self, m: MutationRef<'_>, hash: u64) -> bool {
        match m {
            MutationRef::Set {
                key,
                value,
                flags,
                exptime,
                version,
            } => {
                self.clock.observe(version);
                if key.is_empty() || key.len() > MAX_KEY_LEN {
                    return false;
                }
                if self.tombstones.get(key).is_some_and(|t| t >= version) {
                    return false;
                }
                if let Some(h) = self.mem.index.find(&self.mem.slab, hash, key) {
                    let b = self.mem.slab.chunk(h);
                    let mine = item::version(b);
                    let newer = version > mine
                        || (version == mine
                            && (value, flags, exptime)
                                > (item::value(b), item::flags(b), item::exptime(b)));
                    if !newer {
                        return false;
                    }
                }
                let log_on = self.log.pause();
                let written = self.write_item(key, hash, flags, exptime, value, &[]);
                self.log.resume(log_on);
                match written {
                    Some(h) => {
                        item::set_version(self.mem.slab.chunk_mut(h), version);
                        self.tombstones.remove(key);
                        true
                    }
                    None => false,
                }
            }
            MutationRef::Delete { key, version } => {
                self.clock.observe(version);
                if let Some(h) = self.mem.index.find(&self.mem.slab, hash, key) {
                    if item::version(self.mem.slab.chunk(h)) > version {
                        return false;
                    }
                    self.mem.unlink(h, hash);
                }
                self.record_tombstone(key, version);
                true
            }
            MutationRef::Flush {
                before_version,
                at_unix_secs,
            } => {
                self.clock.observe(before_version);
                self.clock.flush(before_version, at_unix_secs);
                true
            }
        }
    }

    /// Encodes live items into `out` as the set records (sequence 0, see `crate::record`)
    /// that would recreate them, starting at `cursor` (0 to begin), until `max` items or
    /// `max_bytes` of output; returns the cursor to continue from, or None when done, and how
    /// many records it wrote. The last call also writes the tombstones as delete records.
    /// Items may be seen twice, or missed if a page move relocates them between calls; the
    /// twin's version rule makes both harmless except the miss, which the next write of that
    /// key repairs.
    pub fn scan(
        &self,
        cursor: u64,
        max: usize,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> (Option<u64>, usize) {
        let start = out.len();
        let mut n = 0;
        let next = self.scan_items(cursor, max, |s, h| {
            let b = s.mem.slab.chunk(h);
            let (key, value) = item::key_value(b);
            let (flags, exp, ver) = (item::flags(b), item::exptime(b), item::version(b));
            record::put_set(out, 0, key, (value, &[]), flags, exp, ver);
            n += 1;
            out.len() - start < max_bytes
        });
        if next.is_none() {
            for (key, &(version, _)) in &self.tombstones.map {
                record::put(out, 0, MutationRef::Delete { key, version });
                n += 1;
            }
        }
        (next, n)
    }

    /// Like [`Store::scan`], with each item's metadata instead of its value.
    pub fn scan_meta(&self, cursor: u64, max: usize, out: &mut Vec<ItemMeta>) -> Option<u64> {
        self.scan_items(cursor, max, |s, h| {
            let b = s.mem.slab.chunk(h);
            out.push(ItemMeta {
                key: item::key(b).to_vec(),
                exptime: item::exptime(b),
                cas: if s.cfg.cas { item::version(b) } else { 0 },
                fetched: item::word(b) & FETCHED != 0,
                class: s.mem.slab.class_of(h) as u32 + 1,
                size: item::total(b) as u32,
            });
            true
        })
    }

    /// Walks page slots in order, calling `f` on each live item until it has seen `max` or
    /// `f` returns false; the cursor is `slot << 32 | chunk`.
    fn scan_items(
        &self,
        cursor: u64,
        max: usize,
        mut f: impl FnMut(&Store, u32) -> bool,
    ) -> Option<u64> {
        let (mut slot, mut chunk) = ((cursor >> 32) as usize, (cursor & 0xffff_ffff) as u32);
        let mut taken = 0;
        while slot < self.mem.slab.slot_count() {
            let handles = self.mem.slab.slot_handles(slot);
            let n = handles.len() as u32;
            while chunk < n {
                let h = handles.start + chunk;
                chunk += 1;
                if item::word(self.mem.slab.chunk(h)) & USED == 0
                    || self.mem.life(h, &self.clock) != Life::Alive
                {
                    continue;
                }
                let more = f(self, h);
                taken += 1;
                if taken >= max || !more {
                    return Some(((slot as u64) << 32) | u64::from(chunk));
                }
            }
            slot += 1;
            chunk = 0;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Mutation;
    use crate::storage::{StoreConfig, StoreMode};

    fn store() -> Store {
        let mut s = Store::new(StoreConfig {
            mem_limit: 64 << 20,
            ..StoreConfig::default()
        })
        .unwrap();
        s.set_clock(1_700_000_000_000);
        s.set_tombstone_ttl(60);
        s
    }

    fn set(key: &str, value: &str, version: u64) -> Mutation {
        Mutation::Set {
            key: key.into(),
            value: value.into(),
            flags: 0,
            exptime: 0,
            version,
        }
    }

    fn value(s: &mut Store, key: &str) -> Option<Vec<u8>> {
        s.get(key.as_bytes()).map(|v| v.value.to_vec())
    }

    #[test]
    fn higher_version_wins_in_any_order() {
        let v = 1_700_000_000_000u64 << 20;
        let (old, new) = (set("k", "old", v + 0x101), set("k", "new", v + 0x202));
        let mut a = store();
        assert!(a.apply_remote(&old));
        assert!(a.apply_remote(&new));
        let mut b = store();
        assert!(b.apply_remote(&new));
        assert!(!b.apply_remote(&old));
        assert_eq!(value(&mut a, "k"), value(&mut b, "k"));
        assert_eq!(value(&mut a, "k").unwrap(), b"new");
    }

    #[test]
    fn equal_versions_break_ties_the_same_way_everywhere() {
        let v = 1_700_000_000_000u64 << 20;
        let (x, y) = (set("k", "x", v), set("k", "y", v));
        let mut a = store();
        a.apply_remote(&x);
        a.apply_remote(&y);
        let mut b = store();
        b.apply_remote(&y);
        b.apply_remote(&x);
        assert_eq!(value(&mut a, "k"), value(&mut b, "k"));
    }

    #[test]
    fn local_writes_after_a_remote_one_get_higher_versions() {
        let mut s = store();
        let far = (1_800_000_000_000u64 << 20) | 7;
        s.apply_remote(&set("k", "remote", far));
        s.set_mutation_log(true);
        assert_eq!(
            s.store(StoreMode::Set, b"k", 0, 0, b"local"),
            crate::storage::StoreResult::Stored
        );
        let muts = s.drain_mutations();
        let Mutation::Set { version, .. } = &muts[0] else {
            panic!()
        };
        assert!(*version > far);
    }

    #[test]
    fn tombstone_blocks_an_older_write() {
        let mut s = store();
        let v = 1_700_000_000_000u64 << 20;
        s.apply_remote(&set("k", "a", v + 0x100));
        assert!(s.apply_remote(&Mutation::Delete {
            key: b"k".to_vec(),
            version: v + 0x300
        }));
        assert!(!s.apply_remote(&set("k", "stale", v + 0x200)));
        assert_eq!(value(&mut s, "k"), None);
        assert!(s.apply_remote(&set("k", "fresh", v + 0x400)));
        assert_eq!(value(&mut s, "k").unwrap(), b"fresh");
        // a delete older than the live item is ignored
        assert!(!s.apply_remote(&Mutation::Delete {
            key: b"k".to_vec(),
            version: v + 0x350
        }));
    }

    #[test]
    fn remote_writes_are_not_logged() {
        let mut s = store();
        s.set_mutation_log(true);
        s.apply_remote(&set("k", "v", 1 << 40));
        assert!(s.drain_mutations().is_empty());
    }

    #[test]
    fn scan_visits_every_live_item_once_across_calls() {
        let mut s = store();
        for i in 0..5000 {
            s.store(
                StoreMode::Set,
                format!("key{i}").as_bytes(),
                0,
                0,
                &vec![b'x'; i % 700],
            );
        }
        s.store(StoreMode::Set, b"big", 0, 0, &vec![b'y'; 600_000]);
        s.delete(b"key7");
        let mut all = Vec::new();
        let mut cursor = Some(0);
        let mut calls = 0;
        while let Some(c) = cursor {
            let (next, n) = s.scan(c, 333, 20_000, &mut all);
            assert!(n > 0 || next.is_none());
            cursor = next;
            calls += 1;
        }
        // ~1.7 MB of small values: the byte bound, not the item count, ends most chunks.
        assert!(calls > 60, "{calls} calls");
        let mut keys: Vec<Vec<u8>> = record::records(&all)
            .filter_map(|(_, m)| match m {
                MutationRef::Set { key, .. } => Some(key.to_vec()),
                _ => None,
            })
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 5000, "4999 small items and the large one");
    }

    #[test]
    fn tombstones_expire() {
        let mut s = store();
        s.record_tombstone(b"k", 5);
        assert_eq!(s.tombstone_count(), 1);
        s.set_clock(1_700_000_000_000 + 61_000);
        s.record_tombstone(b"other", 6);
        assert_eq!(s.tombstone_count(), 1);
    }
}
