//! The write commands: set/add/replace/cas/append/prepend, incr/decr, and the one path that
//! writes an item (a fresh chunk, or the old item's chunk when the class is the same).

use super::Store;
use super::counter::{fmt_u64, parse_counter};
use crate::storage::clock::Life;
use crate::storage::hash::hash_key;
use crate::storage::item::{self, OFF_NEXT, OFF_PREV};
use crate::storage::types::{DeltaResult, MAX_KEY_LEN, StoreMode, StoreResult};

impl Store {
    pub fn store(
        &mut self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        value: &[u8],
    ) -> StoreResult {
        self.store_versioned(mode, key, flags, exptime, value).0
    }

    /// `store`, and the CAS the item got: what binary and meta replies carry (0 when nothing
    /// was stored, and under -C).
    pub fn store_versioned(
        &mut self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        value: &[u8],
    ) -> (StoreResult, u64) {
        self.mem.stats.cmd_set += 1;
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return (StoreResult::NotStored, 0);
        }
        if !self.item_fits(key.len(), value.len()) {
            let r = match mode {
                StoreMode::Append
                | StoreMode::Prepend
                | StoreMode::AppendCas(_)
                | StoreMode::PrependCas(_) => StoreResult::NotStored,
                _ => StoreResult::TooLarge,
            };
            return (r, 0);
        }
        let hash = hash_key(key);
        // Every mode reads the key's bucket; start loading it now.
        self.mem.index.prefetch_bucket(hash);
        let exp = self.clock.abs_exptime(exptime);
        let r = match mode {
            StoreMode::Set => self.store_new(key, hash, flags, exp, value),
            StoreMode::Add => match self.lookup(key, hash) {
                Some(_) => Err(StoreResult::NotStored),
                None => self.store_new(key, hash, flags, exp, value),
            },
            StoreMode::Replace => match self.lookup(key, hash) {
                Some(_) => self.store_new(key, hash, flags, exp, value),
                None => Err(StoreResult::NotStored),
            },
            StoreMode::Cas(cas) => self.store_cas(cas, key, hash, flags, exp, value),
            StoreMode::Append => self.store_concat(true, key, hash, value, 0),
            StoreMode::Prepend => self.store_concat(false, key, hash, value, 0),
            StoreMode::AppendCas(cas) => self.store_concat(true, key, hash, value, cas),
            StoreMode::PrependCas(cas) => self.store_concat(false, key, hash, value, cas),
        };
        match r {
            Ok(h) => (StoreResult::Stored, self.cas_of(h)),
            Err(e) => (e, 0),
        }
    }

    /// Item `h`'s CAS as clients see it: 0 under -C.
    pub(super) fn cas_of(&self, h: u32) -> u64 {
        self.shown_cas(item::version(self.mem.slab.chunk(h)))
    }

    fn store_new(
        &mut self,
        key: &[u8],
        hash: u64,
        flags: u32,
        exp: u32,
        value: &[u8],
    ) -> Result<u32, StoreResult> {
        match self.write_item(key, hash, flags, exp, value, &[]) {
            Some(h) => {
                let c = self.mem.slab.class_of(h);
                self.mem.cls[c].cmd_set += 1;
                Ok(h)
            }
            None => Err(StoreResult::OutOfMemory),
        }
    }

    fn store_cas(
        &mut self,
        cas: u64,
        key: &[u8],
        hash: u64,
        flags: u32,
        exp: u32,
        value: &[u8],
    ) -> Result<u32, StoreResult> {
        let Some(h) = self.lookup(key, hash) else {
            self.mem.stats.cas_misses += 1;
            return Err(StoreResult::NotFound);
        };
        let c = self.mem.slab.class_of(h);
        // Under -C memcached 1.6 answers EXISTS for every present item.
        if !self.cfg.cas || self.cas_of(h) != cas {
            self.mem.stats.cas_badval += 1;
            self.mem.cls[c].cas_badval += 1;
            return Err(StoreResult::Exists);
        }
        let r = self.store_new(key, hash, flags, exp, value);
        if r.is_ok() {
            self.mem.stats.cas_hits += 1;
            // memcached counts it on the replaced item's class, not the new one's.
            self.mem.cls[c].cas_hits += 1;
        }
        r
    }

    /// append (`after`) or prepend: the old item's flags and exptime, a longer value; with a
    /// `cas` other than 0, only onto the item that has it.
    fn store_concat(
        &mut self,
        after: bool,
        key: &[u8],
        hash: u64,
        value: &[u8],
        cas: u64,
    ) -> Result<u32, StoreResult> {
        let Some(h) = self.lookup(key, hash) else {
            return Err(StoreResult::NotStored);
        };
        if cas != 0 && self.cas_of(h) != cas {
            return Err(StoreResult::Exists);
        }
        let b = self.mem.slab.chunk(h);
        let (oflags, oexp) = (item::flags(b), item::exptime(b));
        let old = item::value(b);
        if !self.item_fits(key.len(), old.len() + value.len()) {
            return Err(StoreResult::NotStored);
        }
        // The allocation below may evict or move the old item, so copy its value.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(old);
        let (a, c) = if after {
            (&scratch[..], value)
        } else {
            (value, &scratch[..])
        };
        let r = self
            .write_item(key, hash, oflags, oexp, a, c)
            .ok_or(StoreResult::NotStored);
        self.scratch = scratch;
        r
    }

    pub fn reject_too_large(&mut self, mode: StoreMode, key: &[u8]) {
        if mode != StoreMode::Set {
            return;
        }
        let hash = hash_key(key);
        if let Some(h) = self.mem.index.find(&self.mem.slab, hash, key) {
            self.remove_logged(h, key, hash);
        }
    }

    pub fn incr_decr(&mut self, key: &[u8], incr: bool, delta: u64) -> DeltaResult {
        self.arith(key, incr, delta, None, 0).0
    }

    /// incr/decr, and the item's new CAS (0 under -C or on failure). On a miss with `init` =
    /// (value, exptime) the item is created holding `value`, flags 0, delta not applied, as
    /// memcached's binary incr with an initial value does (and counts no miss then). A `cas`
    /// other than 0 must be the item's (checked after the empty-value test, as memcached).
    pub fn arith(
        &mut self,
        key: &[u8],
        incr: bool,
        delta: u64,
        init: Option<(u64, i64)>,
        cas: u64,
    ) -> (DeltaResult, u64) {
        let hash = hash_key(key);
        let Some(h) = self.lookup(key, hash) else {
            return self.arith_miss(key, hash, incr, init);
        };
        let b = self.mem.slab.chunk(h);
        if cas != 0 && item::vlen(b) > 0 && self.cas_of(h) != cas {
            return (DeltaResult::Exists, 0);
        }
        let b = self.mem.slab.chunk(h);
        let Some(cur) = parse_counter(item::value(b)) else {
            return (DeltaResult::NonNumeric, 0);
        };
        let new = if incr {
            cur.wrapping_add(delta)
        } else {
            cur.saturating_sub(delta)
        };
        let mut digits = [0u8; 20];
        let n = fmt_u64(new, &mut digits);
        let c = self.mem.slab.class_of(h);
        if incr {
            self.mem.stats.incr_hits += 1;
            self.mem.cls[c].incr_hits += 1;
        } else {
            self.mem.stats.decr_hits += 1;
            self.mem.cls[c].decr_hits += 1;
        }
        let h = if n <= item::vlen(b) {
            // memcached 1.6 rewrites in place and pads with spaces.
            let v = self.clock.next_version();
            let b = self.mem.slab.chunk_mut(h);
            let val = item::value_mut(b);
            val[..n].copy_from_slice(&digits[..n]);
            val[n..].fill(b' ');
            item::set_version(b, v);
            self.log_item(h);
            h
        } else {
            let (flags, exp) = (item::flags(b), item::exptime(b));
            match self.write_item(key, hash, flags, exp, &digits[..n], &[]) {
                Some(h) => h,
                None => return (DeltaResult::OutOfMemory, 0),
            }
        };
        (DeltaResult::Value(new), self.cas_of(h))
    }

    fn arith_miss(
        &mut self,
        key: &[u8],
        hash: u64,
        incr: bool,
        init: Option<(u64, i64)>,
    ) -> (DeltaResult, u64) {
        let Some((value, exptime)) = init else {
            if incr {
                self.mem.stats.incr_misses += 1;
            } else {
                self.mem.stats.decr_misses += 1;
            }
            return (DeltaResult::NotFound, 0);
        };
        let mut digits = [0u8; 20];
        let n = fmt_u64(value, &mut digits);
        let exp = self.clock.abs_exptime(exptime);
        match self.write_item(key, hash, 0, exp, &digits[..n], &[]) {
            Some(h) => (DeltaResult::Value(value), self.cas_of(h)),
            None => (DeltaResult::OutOfMemory, 0),
        }
    }

    /// Allocates, writes and links a new item (value = a ++ c), replacing any old one.
    /// A write over an expired or flushed item reuses dead memory: memcached counts it as
    /// reclaimed (t/issue_163, t/issue_183), whether or not the crawl got there first.
    fn count_if_dead(&mut self, old: u32) {
        if self.mem.life(old, &self.clock) != Life::Alive {
            self.mem.count_drop(old, &self.clock);
        }
    }

    pub(super) fn write_item(
        &mut self,
        key: &[u8],
        hash: u64,
        flags: u32,
        exp: u32,
        a: &[u8],
        c: &[u8],
    ) -> Option<u32> {
        // The bucket of the new key loads while the allocation deals with its own misses.
        self.mem.index.prefetch_bucket(hash);
        let total = item::total_len(key.len(), a.len() + c.len(), flags);
        let class = self.mem.slab.class_for(total);
        let large = self.mem.slab.large;
        // In a full store a new key's chunk comes from evicting a tail item; do that before
        // reading the bucket so the bucket loads meanwhile. If the key then turns out to have
        // an item of this class (rewritten in place), the chunk waits on the free list for
        // the next write. Not under -M, where this allocation could fail or count an OOM that
        // the in-place rewrite would not have needed.
        let early =
            self.cfg.evictions && class != large && self.mem.slab.classes[class].free.len == 0;
        let fresh = if early {
            self.mem.alloc(class, total, &self.clock)
        } else {
            None
        };
        let mut old = self.mem.index.find(&self.mem.slab, hash, key);
        if let Some(o) = old {
            if class != large && self.mem.slab.class_of(o) == class {
                if let Some(f) = fresh {
                    self.mem.slab.free_chunk(f);
                }
                self.count_if_dead(o);
                return Some(self.overwrite_in_place(o, key, flags, exp, (a, c), total));
            }
            // Unlinking the old item reads both LRU neighbours; start loading them.
            self.mem
                .slab
                .prefetch_chunk(self.mem.slab.link(o, OFF_PREV));
            self.mem
                .slab
                .prefetch_chunk(self.mem.slab.link(o, OFF_NEXT));
        }
        let h = match fresh {
            Some(h) => h,
            // Already failed (and counted) above.
            None if early => return None,
            None => {
                let h = self.mem.alloc(class, total, &self.clock)?;
                // The allocation may have evicted or moved the old item (but never adds one).
                if old.is_some() {
                    old = self.mem.index.find(&self.mem.slab, hash, key);
                }
                h
            }
        };
        let ver = self.clock.next_version();
        item::write(self.mem.slab.chunk_mut(h), key, flags, exp, ver, a, c);
        if let Some(o) = old {
            self.count_if_dead(o);
            self.mem.unlink(o, hash);
        }
        self.mem.link(h, hash, class, total);
        self.log_item(h);
        Some(h)
    }

    /// Writes a new item of the same class as `old` into `old`'s chunk and moves it to the LRU
    /// head: no allocation, and the index entry (same key, same handle) stays as it is. In a
    /// full store a run of overwrites evicts one item (see `write_item`), not one per write.
    /// Callers pass nothing that points into the chunk.
    fn overwrite_in_place(
        &mut self,
        old: u32,
        key: &[u8],
        flags: u32,
        exp: u32,
        (a, c): (&[u8], &[u8]),
        total: usize,
    ) -> u32 {
        let class = self.mem.slab.class_of(old);
        let old_total = item::total(self.mem.slab.chunk(old));
        let ver = self.clock.next_version();
        item::write(self.mem.slab.chunk_mut(old), key, flags, exp, ver, a, c);
        self.mem.rewritten(old, class, old_total, total);
        self.log_item(old);
        old
    }
}
