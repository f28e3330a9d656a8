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
            MutationRef::Mark { key, version, bits } => self.apply_mark(key, hash, version, bits),
            MutationRef::Flush {
                before_version,
                at_unix_secs,
            } => {
                // A delayed flush's threshold is a future time: it must not drag this
                // node's clock there now (it hides what is written before it when it comes).
                if at_unix_secs <= self.clock.now_secs {
                    self.clock.observe(before_version);
                }
                self.clock.flush(before_version, at_unix_secs);
                true
            }
        }
    }

    /// A twin's meta marks for its item of `key` at `version`: they belong to this node's
    /// item of that key if it is that write or a touch of it since (a twin's touch reaches
    /// this node as a newer version of the same item), not an older one.
    fn apply_mark(&mut self, key: &[u8], hash: u64, version: u64, bits: u8) -> bool {
        let Some(h) = self.mem.index.find(&self.mem.slab, hash, key) else {
            return false;
        };
        let mine = item::version(self.mem.slab.chunk(h));
        if mine < version {
            return false;
        }
        self.marks.set(mine, key, bits);
        true
    }

    /// Encodes live items into `out` as the set records (sequence 0, see `crate::record`)
    /// that would recreate them, starting at `cursor` (0 to begin), until `max` items or
    /// `max_bytes` of output; returns the cursor to continue from, or None when done, and how
    /// many records it wrote. After the items come the tombstones as delete records, `max`
    /// at a time. Items may be seen twice, or missed if a page move relocates them between
    /// calls; the twin's version rule makes both harmless except the miss, which the next
    /// write of that key repairs.
    pub fn scan(
        &self,
        cursor: u64,
        max: usize,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> (Option<u64>, usize) {
        let start = out.len();
        let mut n = 0;
        if cursor & TOMBSTONE_PHASE == 0 {
            let next = self.scan_items(cursor, u64::MAX, max, |s, h| {
                let b = s.mem.slab.chunk(h);
                let (key, value) = item::key_value(b);
                let (flags, exp, ver) = (item::flags(b), item::exptime(b), item::version(b));
                record::put_set(out, 0, key, (value, &[]), flags, exp, ver);
                n += 1;
                let bits = s.marks.get(ver);
                if bits != 0 {
                    let version = ver;
                    record::put(out, 0, MutationRef::Mark { key, version, bits });
                    n += 1;
                }
                out.len() - start < max_bytes
            });
            return (Some(next.unwrap_or(TOMBSTONE_PHASE)), n);
        }
        let next = self
            .tombstones
            .scan(cursor & !TOMBSTONE_PHASE, max, |key, version| {
                record::put(out, 0, MutationRef::Delete { key, version });
                n += 1;
            });
        (next.map(|p| p | TOMBSTONE_PHASE), n)
    }

    /// Like [`Store::scan`], with each item's metadata instead of its value, for the
    /// classes in the mask only (bit i = class i + 1; all of them for `u64::MAX`).
    pub fn scan_meta(
        &self,
        cursor: u64,
        classes: u64,
        max: usize,
        out: &mut Vec<ItemMeta>,
    ) -> Option<u64> {
        self.scan_items(cursor, classes, max, |s, h| {
            let b = s.mem.slab.chunk(h);
            out.push(ItemMeta {
                key: item::key(b).to_vec(),
                exptime: item::exptime(b),
                cas: s.shown_cas(item::version(b)),
                fetched: item::word(b) & FETCHED != 0,
                class: s.mem.slab.class_of(h) as u32 + 1,
                size: item::total(b) as u32,
            });
            true
        })
    }

    /// Walks page slots in order, calling `f` on each live item of a class in the mask
    /// until it has seen `max` or `f` returns false; the cursor is `slot << 32 | chunk`, a
    /// position in the arena rather than a pointer to an item, so inserts, evictions and
    /// page moves between calls cannot leave it dangling. One call examines at most
    /// `VISITS_PER_ITEM` chunks per item it may return (a page of a class not asked for
    /// counts as one), so its cost is bounded however sparse the pages are.
    fn scan_items(
        &self,
        cursor: u64,
        classes: u64,
        max: usize,
        mut f: impl FnMut(&Store, u32) -> bool,
    ) -> Option<u64> {
        let slab = &self.mem.slab;
        let (mut slot, mut chunk) = ((cursor >> 32) as usize, (cursor & 0xffff_ffff) as u32);
        let budget = max.saturating_mul(VISITS_PER_ITEM).max(VISITS_PER_ITEM);
        let (mut taken, mut visits) = (0, 0);
        while slot < slab.slot_count() {
            let handles = slab.slot_handles(slot);
            let n = handles.len() as u32;
            if n > 0 && !in_mask(classes, slab.class_of(handles.start)) {
                chunk = n;
                visits += 1;
            }
            while chunk < n {
                if visits >= budget {
                    return Some(((slot as u64) << 32) | u64::from(chunk));
                }
                visits += 1;
                let h = handles.start + chunk;
                chunk += 1;
                if item::word(slab.chunk(h)) & USED == 0
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

/// Chunks a scan call may examine per item it may return.
const VISITS_PER_ITEM: usize = 8;

/// Marks a full copy's cursor as past the items, in the tombstones (slots stay below 2^31).
const TOMBSTONE_PHASE: u64 = 1 << 63;

/// Whether class index `c` is in the mask (bit i = class i + 1); `u64::MAX` holds every
/// class, also those past the 64th.
fn in_mask(classes: u64, c: usize) -> bool {
    classes == u64::MAX || (c < 64 && classes & (1 << c) != 0)
}
