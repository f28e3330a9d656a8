//! Command semantics of one shard (memcached 1.6): lazy expiry and flush, versions (= CAS)
//! from a hybrid logical clock, counters, the replication log. Allocation, eviction and the
//! reclaim crawl are the layer below (`storage::memory`); time and visibility are
//! `storage::clock`.

use super::clock::{Clock, Life};
use super::hash::hash_key;
use super::item;
use super::memory::Memory;
use super::mutation_log::MutationLog;
use super::prefetch::Prefetch;
use super::slab::Slab;
use super::types::{DeleteResult, ItemView, StoreConfig};
use crate::record::{Mutation, MutationRef};

mod counter;
mod meta;
mod replica;
mod report;
mod watch;
mod write;

#[cfg(test)]
pub(crate) use counter::parse_counter;
pub use replica::ItemMeta;
pub use report::CacheDumpEntry;

pub struct Store {
    cfg: StoreConfig,
    pub(super) mem: Memory,
    pub(super) clock: Clock,
    log: MutationLog,
    /// Reused buffer for append/prepend so they allocate nothing per item.
    scratch: Vec<u8>,
    /// Recent deletes, with replication on, so an older write from the twin cannot undo one.
    tombstones: super::tombstones::Tombstones,
    /// Meta protocol state (stale, win token sent, base64 key) by item version.
    marks: super::marks::Marks,
    /// Added to a version to make the CAS clients see (the shard's index): two shards can
    /// stamp the same version in the same millisecond, and memcached's CAS values are
    /// unique across keys.
    cas_offset: u64,
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Result<Store, String> {
        let slab = Slab::new(&cfg)?;
        let now_ms = super::clock::unix_ms();
        let mut s = Store {
            mem: Memory::new(slab, cfg.evictions),
            clock: Clock::new(cfg.node_id),
            cfg,
            log: MutationLog::default(),
            scratch: Vec::new(),
            tombstones: Default::default(),
            marks: Default::default(),
            cas_offset: 0,
        };
        s.set_clock(now_ms);
        Ok(s)
    }

    /// This store's shard index, which makes its CAS values differ from every other
    /// shard's: versions of one node share their low byte (the node id), so adding an
    /// index below 256 cannot make two shards' values meet.
    pub fn set_shard_index(&mut self, index: u8) {
        self.cas_offset = u64::from(index);
    }

    /// The CAS clients see for an item of version `ver`: 0 under -C.
    pub(super) fn shown_cas(&self, ver: u64) -> u64 {
        if self.cfg.cas {
            ver + self.cas_offset
        } else {
            0
        }
    }

    pub fn set_clock(&mut self, unix_ms: u64) {
        self.clock.set(unix_ms);
    }

    pub fn item_fits(&self, key_len: usize, value_len: usize) -> bool {
        // Flags are not known yet, so assume the header with flags.
        let total = item::total_len(key_len, value_len, 1);
        total <= self.cfg.max_item_size
            && (total <= self.cfg.page_size / 2
                || self.mem.slab.pages_for_large(total) <= self.mem.slab.limit_pages())
    }

    /// Optional batching aid (not needed for correctness): lookups are bound by memory latency,
    /// so a caller holding several keys (a multi-get, a pipelined batch) can call
    /// `prefetch(hash_key(k))` for all of them, then `prefetch_item(hash)` for all, then do the
    /// real calls (`get_hashed` saves hashing again); the cache misses of the batch then overlap
    /// instead of queuing ([`Prefetch`] is that schedule). Works for writes too: a set starts
    /// by reading the key's bucket.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        self.mem.index.prefetch_bucket(hash);
    }

    /// Second prefetch stage; see `prefetch`.
    #[inline]
    pub fn prefetch_item(&self, hash: u64) {
        self.mem.index.prefetch_head(&self.mem.slab, hash);
    }

    #[inline]
    pub fn get(&mut self, key: &[u8]) -> Option<ItemView<'_>> {
        self.get_hashed(key, hash_key(key))
    }

    /// `get` with the key's `hash_key` already computed, as the batched path (see `prefetch`)
    /// has it; a wrong hash makes the key look absent.
    #[inline]
    pub fn get_hashed(&mut self, key: &[u8], hash: u64) -> Option<ItemView<'_>> {
        let Some((h, b, class)) = self.mem.index.find_chunk(&self.mem.slab, hash, key) else {
            self.mem.stats.get_misses += 1;
            return None;
        };
        // The header is read once, through the chunk the lookup located: a get's instruction
        // count decides how many gets' cache misses the CPU overlaps on its own.
        let hd = item::head(b);
        let life = self.clock.life_of(&hd);
        if life != Life::Alive {
            self.drop_dead(h, hash, life);
            self.mem.stats.get_misses += 1;
            return None;
        }
        self.mem.stats.get_hits += 1;
        self.mem.cls[class].get_hits += 1;
        let w = item::hit_word(hd.word);
        // The borrow checker cannot see that `b` may be returned on one branch while the other
        // writes to the slab (NLL's "conditional return" limitation), so `b` goes through a raw
        // pointer instead of being located a second time (18 instructions, a tenth of a hit).
        let p: *const [u8] = b;
        let b = if w != hd.word {
            item::set_word(self.mem.slab.chunk_mut(h), w);
            self.mem.slab.chunk(h)
        } else {
            // SAFETY: `p` is `b`, a shared borrow of `self.mem.slab` made by `find_chunk`, and
            // nothing has written to the slab since (on this branch), so the chunk is
            // unchanged; the view's borrow of `self` keeps the slab alive and unchanged.
            unsafe { &*p }
        };
        Some(ItemView::of(&hd, b, self.shown_cas(hd.ver)))
    }

    /// `get` for every key of `keys`, handing `f(i, result)` over in order, with the
    /// prefetch schedule of [`Prefetch`] over the keys, so about 2·D cache misses are in
    /// flight at once instead of one. Counts exactly like `get` on each key.
    #[inline]
    pub fn get_batch<K: AsRef<[u8]>>(
        &mut self,
        keys: &[K],
        mut f: impl FnMut(usize, Option<ItemView<'_>>),
    ) {
        let mut sched = Prefetch::new(1, 0);
        let mut ahead = keys.iter();
        while sched.wants_more()
            && let Some(k) = ahead.next()
        {
            sched.take(self, hash_key(k.as_ref()));
        }
        sched.start(self);
        for (i, k) in keys.iter().enumerate() {
            let h = sched.serve(self);
            if let Some(k2) = ahead.next() {
                sched.take(self, hash_key(k2.as_ref()));
            }
            f(i, self.get_hashed(k.as_ref(), h));
        }
    }

    /// gat/gats: counted like memcached 1.6 does, as touches only.
    pub fn get_and_touch(&mut self, key: &[u8], exptime: i64) -> Option<ItemView<'_>> {
        let h = self.touch_inner(key, exptime)?;
        self.bump(h);
        let b = self.mem.slab.chunk(h);
        Some(ItemView::of(
            &item::head(b),
            b,
            self.shown_cas(item::version(b)),
        ))
    }

    pub fn touch(&mut self, key: &[u8], exptime: i64) -> bool {
        match self.touch_inner(key, exptime) {
            Some(h) => {
                self.bump(h);
                true
            }
            None => false,
        }
    }

    fn touch_inner(&mut self, key: &[u8], exptime: i64) -> Option<u32> {
        self.mem.stats.cmd_touch += 1;
        let hash = hash_key(key);
        let Some(h) = self.lookup(key, hash) else {
            self.mem.stats.touch_misses += 1;
            return None;
        };
        self.mem.stats.touch_hits += 1;
        let c = self.mem.slab.class_of(h);
        self.mem.cls[c].touch_hits += 1;
        let exp = self.clock.abs_exptime(exptime);
        // memcached keeps the CAS on touch, so the version stays too.
        item::set_exptime(self.mem.slab.chunk_mut(h), exp);
        self.log_touch(h);
        Some(h)
    }

    pub fn delete(&mut self, key: &[u8]) -> bool {
        self.delete_cas(key, 0) == DeleteResult::Deleted
    }

    /// delete, refused (`Exists`, counted nowhere, as memcached's binary delete) when `cas`
    /// is not 0 and differs from the item's CAS.
    pub fn delete_cas(&mut self, key: &[u8], cas: u64) -> DeleteResult {
        let hash = hash_key(key);
        let Some(h) = self.lookup(key, hash) else {
            self.mem.stats.delete_misses += 1;
            return DeleteResult::NotFound;
        };
        if cas != 0 && self.cas_of(h) != cas {
            return DeleteResult::Exists;
        }
        self.mem.stats.delete_hits += 1;
        let c = self.mem.slab.class_of(h);
        self.mem.cls[c].delete_hits += 1;
        self.remove_logged(h, key, hash);
        DeleteResult::Deleted
    }

    pub fn flush_all(&mut self, delay: i64) {
        let at = if delay <= 0 {
            0
        } else {
            self.clock.abs_exptime(delay)
        };
        let now = self.clock.now_secs;
        let (before, at) = if at <= now {
            // A flush now also replaces a delayed one.
            self.clock.cancel_pending_flush();
            (self.clock.next_version(), now)
        } else {
            ((u64::from(at) * 1000) << 20, at)
        };
        self.clock.flush(before, at);
        self.log.put(MutationRef::Flush {
            before_version: before,
            at_unix_secs: at,
        });
    }

    /// One step of the background crawl (memcached's crawler as its LRU maintainer runs
    /// it): frees dead items among the next `budget` it examines; how many it freed.
    pub fn reclaim_step(&mut self, budget: usize) -> usize {
        self.mem.reclaim_step(budget, &self.clock)
    }

    /// `lru_crawler crawl`: starts a crawl of the class ids whose bit (id - 1) is set in
    /// `classes`, at most `tocrawl` items per class (0: all), run by `crawl_step`.
    pub fn start_crawl(&mut self, classes: u64, tocrawl: u32) {
        self.mem.start_crawl(classes, tocrawl);
    }

    /// One step of the crawl job: examines up to `budget` items; true while items remain.
    pub fn crawl_step(&mut self, budget: usize) -> bool {
        self.mem.crawl_step(budget, &self.clock)
    }

    /// True while a crawl job has items left.
    pub fn crawling(&self) -> bool {
        self.mem.crawling()
    }

    pub fn set_mutation_log(&mut self, on: bool) {
        self.log.set_on(on);
    }

    /// The mutations logged since the last [`Store::clear_log`], encoded as described in
    /// `crate::record`, sequence numbers 0.
    pub fn log_bytes(&self) -> &[u8] {
        self.log.bytes()
    }

    pub fn clear_log(&mut self) {
        self.log.clear();
    }

    /// The logged mutations, decoded, and clears the log (for tests and tools; the server
    /// takes the bytes).
    pub fn drain_mutations(&mut self) -> Vec<Mutation> {
        self.log.drain()
    }

    // ---- internals ----

    /// Finds a live item; a dead one found on the way is freed and counted.
    #[inline]
    fn lookup(&mut self, key: &[u8], hash: u64) -> Option<u32> {
        let h = self.mem.index.find(&self.mem.slab, hash, key)?;
        match self.mem.life(h, &self.clock) {
            Life::Alive => Some(h),
            dead => {
                self.drop_dead(h, hash, dead);
                None
            }
        }
    }

    /// Frees an item a lookup found flushed or expired, and counts it.
    #[cold]
    fn drop_dead(&mut self, h: u32, hash: u64, life: Life) {
        if life == Life::Flushed {
            self.mem.stats.get_flushed += 1;
        } else {
            self.mem.stats.get_expired += 1;
        }
        self.mem.unlink(h, hash);
    }

    /// Removes item `h` (of `key`) as a delete, which replication sees.
    fn remove_logged(&mut self, h: u32, key: &[u8], hash: u64) {
        self.mem.unlink(h, hash);
        if self.log.is_on() {
            let version = self.clock.next_version();
            self.record_tombstone(key, version);
            self.log.put(MutationRef::Delete { key, version });
        }
    }

    /// Logs item `h`'s meta marks for the twin.
    fn log_mark(&mut self, h: u32, bits: u8) {
        if self.log.is_on() {
            let b = self.mem.slab.chunk(h);
            let (key, version) = (item::key(b), item::version(b));
            self.log.put(MutationRef::Mark { key, version, bits });
        }
    }

    #[inline]
    fn bump(&mut self, h: u32) {
        let b = self.mem.slab.chunk_mut(h);
        let w = item::word(b);
        item::mark_hit(b, w);
    }

    fn log_item(&mut self, h: u32) {
        if self.log.is_on() {
            let version = item::version(self.mem.slab.chunk(h));
            self.log_item_as(h, version);
        }
    }

    /// Logs item `h` as a write of its current state under `version`.
    fn log_item_as(&mut self, h: u32, version: u64) {
        let b = self.mem.slab.chunk(h);
        let (key, value) = item::key_value(b);
        let (flags, exptime) = (item::flags(b), item::exptime(b));
        self.log.put(MutationRef::Set {
            key,
            value,
            flags,
            exptime,
            version,
        });
    }
}

#[cfg(test)]
impl Store {
    /// The version of a live item, without counting or bumping anything.
    pub(crate) fn peek_live(&self, h: u32) -> Option<u64> {
        (self.mem.life(h, &self.clock) == Life::Alive)
            .then(|| item::version(self.mem.slab.chunk(h)))
    }
}

#[cfg(test)]
mod tests;
