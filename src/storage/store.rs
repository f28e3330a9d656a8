//! Command semantics of one shard (memcached 1.6): lazy expiry and flush, versions (= CAS) from a
//! hybrid logical clock, allocation with synchronous page moves against slab calcification,
//! eviction with active-item rescue, a background reclaim step and the replication log.

use std::time::{SystemTime, UNIX_EPOCH};

use super::hash::hash_key;
use super::index::Index;
use super::item::{self, ACTIVE, FETCHED, OFF_NEXT, OFF_PREV, USED};
use super::lru::List;
use super::mutation_log::MutationLog;
use super::prefetch::Prefetch;
use super::slab::{NIL, Slab};
use super::stats::{ClassCounters, ClassStats, StoreStats};
use crate::record::{Mutation, MutationRef};

pub const MAX_KEY_LEN: usize = 250;
/// memcached's REALTIME_MAXDELTA: larger exptimes are absolute unix times.
const REL_MAX: i64 = 60 * 60 * 24 * 30;
/// Active tail items moved back to the head per eviction before an active one is evicted.
const MAX_RESCUES: usize = 5;
/// Tail items checked for expiry before evicting a live one.
const RECLAIM_PEEK: usize = 5;
/// A class under eviction compares its tail age with other classes once per this many
/// evictions; the scan reads one header per class, too much to do on every eviction.
const MOVE_CHECK_EVERY: u32 = 8;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoreConfig {
    /// Bytes of item memory for this shard; pages are taken lazily and never exceed it.
    pub mem_limit: usize,
    pub page_size: usize,
    /// Smallest chunk (header + key + value), memcached -n.
    pub min_chunk: usize,
    /// memcached -f.
    pub growth_factor: f64,
    /// memcached -I: largest item including its header.
    pub max_item_size: usize,
    /// false under -M: a full store answers OutOfMemory.
    pub evictions: bool,
    /// false under -C: CAS values read as 0 and `cas` answers EXISTS for present items.
    pub cas: bool,
    /// Low 8 bits of every version (replication tie-break).
    pub node_id: u8,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            mem_limit: 64 << 20,
            page_size: 1 << 20,
            min_chunk: 48,
            growth_factor: 1.25,
            max_item_size: 1 << 20,
            evictions: true,
            cas: true,
            node_id: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreResult {
    Stored,
    NotStored,
    Exists,
    NotFound,
    TooLarge,
    OutOfMemory,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeltaResult {
    Value(u64),
    NotFound,
    NonNumeric,
    OutOfMemory,
}

/// A borrowed item; valid until the next call on the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemView<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub flags: u32,
    pub cas: u64,
}

impl<'a> ItemView<'a> {
    /// The view of item `b`, whose header is `hd`; `cas_on` is false under `-C`.
    #[inline(always)]
    fn of(hd: &item::Head, b: &'a [u8], cas_on: bool) -> Self {
        let (key, value) = hd.key_value(b);
        ItemView {
            key,
            value,
            flags: hd.flags(b),
            cas: if cas_on { hd.ver } else { 0 },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Life {
    Alive,
    Flushed,
    Expired,
}

pub struct Store {
    cfg: StoreConfig,
    pub(crate) slab: Slab,
    pub(crate) index: Index,
    /// Per class, the large class last.
    lru: Vec<List>,
    cls: Vec<ClassCounters>,
    move_tick: Vec<u32>,
    stats: StoreStats,
    pub(crate) now_ms: u64,
    now_secs: u32,
    last_version: u64,
    /// Items with a lower version are invisible.
    flushed_below: u64,
    pending_flush_ms: Option<u64>,
    log: MutationLog,
    /// Reused buffer for append/prepend so they allocate nothing per item.
    scratch: Vec<u8>,
    crawl_class: usize,
    /// Next item the reclaim crawler examines (walking tail to head); kept valid on unlink.
    crawl_cursor: u32,
    /// Recent deletes, with replication on, so an older write from the twin cannot undo one.
    tombstones: replica::Tombstones,
    /// (handle, version, key hash) of the likely next eviction victim, hashed one eviction early
    /// so that its index bucket loads meanwhile; trusted only while handle and version match,
    /// and cleared whenever that chunk could change keys (detach, page moves).
    victim_hint: (u32, u64, u64),
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Result<Store, String> {
        let slab = Slab::new(&cfg)?;
        let n = slab.classes.len();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut s = Store {
            cfg,
            slab,
            index: Index::new(),
            lru: vec![List::default(); n],
            cls: vec![ClassCounters::default(); n],
            move_tick: vec![0; n],
            stats: StoreStats::default(),
            now_ms: 0,
            now_secs: 0,
            last_version: 0,
            flushed_below: 0,
            pending_flush_ms: None,
            log: MutationLog::default(),
            scratch: Vec::new(),
            crawl_class: 0,
            crawl_cursor: NIL,
            tombstones: replica::Tombstones::default(),
            victim_hint: (NIL, 0, 0),
        };
        s.set_clock(now_ms);
        Ok(s)
    }

    pub fn set_clock(&mut self, unix_ms: u64) {
        self.now_ms = unix_ms;
        self.now_secs = (unix_ms / 1000).min(u32::MAX as u64) as u32;
        if let Some(t) = self.pending_flush_ms
            && unix_ms >= t
        {
            // Everything written before this moment is hidden, even if the HLC ran ahead.
            let v = (t << 20).max(self.last_version + 1);
            self.flushed_below = self.flushed_below.max(v);
            self.pending_flush_ms = None;
        }
    }

    pub fn item_fits(&self, key_len: usize, value_len: usize) -> bool {
        // Flags are not known yet, so assume the header with flags.
        let total = item::total_len(key_len, value_len, 1);
        total <= self.cfg.max_item_size
            && (total <= self.cfg.page_size / 2
                || self.slab.pages_for_large(total) <= self.slab.limit_pages())
    }

    /// Optional batching aid (not needed for correctness): lookups are bound by memory latency,
    /// so a caller holding several keys (a multi-get, a pipelined batch) can call
    /// `prefetch(hash_key(k))` for all of them, then `prefetch_item(hash)` for all, then do the
    /// real calls (`get_hashed` saves hashing again); the cache misses of the batch then overlap
    /// instead of queuing. Works for writes too: a set starts by reading the key's bucket.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        self.index.prefetch_bucket(hash);
    }

    /// Second prefetch stage; see `prefetch`.
    #[inline]
    pub fn prefetch_item(&self, hash: u64) {
        self.index.prefetch_head(&self.slab, hash);
    }

    #[inline]
    pub fn get(&mut self, key: &[u8]) -> Option<ItemView<'_>> {
        self.get_hashed(key, hash_key(key))
    }

    /// `get` with the key's `hash_key` already computed, as the batched path (see `prefetch`)
    /// has it; a wrong hash makes the key look absent.
    #[inline]
    pub fn get_hashed(&mut self, key: &[u8], hash: u64) -> Option<ItemView<'_>> {
        let Some((h, b, class)) = self.index.find_chunk(&self.slab, hash, key) else {
            self.stats.get_misses += 1;
            return None;
        };
        // The header is read once, through the chunk the lookup located: a get's instruction
        // count decides how many gets' cache misses the CPU overlaps on its own.
        let hd = item::head(b);
        let life = self.life_of(&hd);
        if life != Life::Alive {
            self.drop_dead(h, hash, life);
            self.stats.get_misses += 1;
            return None;
        }
        self.stats.get_hits += 1;
        self.cls[class].get_hits += 1;
        let w = item::hit_word(hd.word);
        // The borrow checker cannot see that `b` may be returned on one branch while the other
        // writes to the slab (NLL's "conditional return" limitation), so `b` goes through a raw
        // pointer instead of being located a second time (18 instructions, a tenth of a hit).
        let p: *const [u8] = b;
        let b = if w != hd.word {
            item::set_word(self.slab.chunk_mut(h), w);
            self.slab.chunk(h)
        } else {
            // SAFETY: `p` is `b`, a shared borrow of `self.slab` made by `find_chunk`, and
            // nothing has written to the slab since (on this branch), so the chunk is
            // unchanged; the view's borrow of `self` keeps the slab alive and unchanged.
            unsafe { &*p }
        };
        Some(ItemView::of(&hd, b, self.cfg.cas))
    }

    /// `get` for every key of `keys`, handing `f(i, result)` over in order, with the
    /// prefetch schedule of [`Prefetch`] over the keys, so about 2·D cache misses are in
    /// flight at once instead of one. Counts exactly like `get` on each key.
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
        Some(self.bump_and_view(h))
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
        self.stats.cmd_touch += 1;
        let hash = hash_key(key);
        let Some(h) = self.lookup(key, hash) else {
            self.stats.touch_misses += 1;
            return None;
        };
        self.stats.touch_hits += 1;
        let c = self.slab.class_of(h);
        self.cls[c].touch_hits += 1;
        let exp = self.abs_exptime(exptime);
        // memcached keeps the CAS on touch, so the version stays too.
        item::set_exptime(self.slab.chunk_mut(h), exp);
        self.log_touch(h);
        Some(h)
    }

    pub fn store(
        &mut self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        value: &[u8],
    ) -> StoreResult {
        self.stats.cmd_set += 1;
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return StoreResult::NotStored;
        }
        if !self.item_fits(key.len(), value.len()) {
            return match mode {
                StoreMode::Append | StoreMode::Prepend => StoreResult::NotStored,
                _ => StoreResult::TooLarge,
            };
        }
        let hash = hash_key(key);
        // Every mode reads the key's bucket; start loading it now.
        self.index.prefetch_bucket(hash);
        let exp = self.abs_exptime(exptime);
        match mode {
            StoreMode::Set => self.store_new(key, hash, flags, exp, value),
            StoreMode::Add => match self.lookup(key, hash) {
                Some(_) => StoreResult::NotStored,
                None => self.store_new(key, hash, flags, exp, value),
            },
            StoreMode::Replace => match self.lookup(key, hash) {
                Some(_) => self.store_new(key, hash, flags, exp, value),
                None => StoreResult::NotStored,
            },
            StoreMode::Cas(cas) => match self.lookup(key, hash) {
                None => {
                    self.stats.cas_misses += 1;
                    StoreResult::NotFound
                }
                Some(h) => {
                    let c = self.slab.class_of(h);
                    // Under -C memcached 1.6 answers EXISTS for every present item.
                    if !self.cfg.cas || item::version(self.slab.chunk(h)) != cas {
                        self.stats.cas_badval += 1;
                        self.cls[c].cas_badval += 1;
                        return StoreResult::Exists;
                    }
                    let r = self.store_new(key, hash, flags, exp, value);
                    if r == StoreResult::Stored {
                        self.stats.cas_hits += 1;
                        // memcached counts it on the replaced item's class, not the new one's.
                        self.cls[c].cas_hits += 1;
                    }
                    r
                }
            },
            StoreMode::Append | StoreMode::Prepend => {
                let Some(h) = self.lookup(key, hash) else {
                    return StoreResult::NotStored;
                };
                let b = self.slab.chunk(h);
                let (oflags, oexp) = (item::flags(b), item::exptime(b));
                let old = item::value(b);
                if !self.item_fits(key.len(), old.len() + value.len()) {
                    return StoreResult::NotStored;
                }
                // The allocation below may evict or move the old item, so copy its value.
                let mut scratch = std::mem::take(&mut self.scratch);
                scratch.clear();
                scratch.extend_from_slice(old);
                let (a, c) = if mode == StoreMode::Append {
                    (&scratch[..], value)
                } else {
                    (value, &scratch[..])
                };
                let r = match self.write_item(key, hash, oflags, oexp, a, c) {
                    Some(_) => StoreResult::Stored,
                    None => StoreResult::NotStored,
                };
                self.scratch = scratch;
                r
            }
        }
    }

    fn store_new(
        &mut self,
        key: &[u8],
        hash: u64,
        flags: u32,
        exp: u32,
        value: &[u8],
    ) -> StoreResult {
        match self.write_item(key, hash, flags, exp, value, &[]) {
            Some(h) => {
                let c = self.slab.class_of(h);
                self.cls[c].cmd_set += 1;
                StoreResult::Stored
            }
            None => StoreResult::OutOfMemory,
        }
    }

    pub fn reject_too_large(&mut self, mode: StoreMode, key: &[u8]) {
        if mode != StoreMode::Set {
            return;
        }
        let hash = hash_key(key);
        if let Some(h) = self.index.find(&self.slab, hash, key) {
            self.unlink(h, hash);
            if self.log.is_on() {
                let version = self.next_version();
                self.record_tombstone(key, version);
                self.log.put(MutationRef::Delete { key, version });
            }
        }
    }

    pub fn delete(&mut self, key: &[u8]) -> bool {
        let hash = hash_key(key);
        match self.lookup(key, hash) {
            None => {
                self.stats.delete_misses += 1;
                false
            }
            Some(h) => {
                self.stats.delete_hits += 1;
                let c = self.slab.class_of(h);
                self.cls[c].delete_hits += 1;
                self.unlink(h, hash);
                if self.log.is_on() {
                    let version = self.next_version();
                    self.record_tombstone(key, version);
                    self.log.put(MutationRef::Delete { key, version });
                }
                true
            }
        }
    }

    pub fn incr_decr(&mut self, key: &[u8], incr: bool, delta: u64) -> DeltaResult {
        let hash = hash_key(key);
        let Some(h) = self.lookup(key, hash) else {
            if incr {
                self.stats.incr_misses += 1;
            } else {
                self.stats.decr_misses += 1;
            }
            return DeltaResult::NotFound;
        };
        let b = self.slab.chunk(h);
        let Some(cur) = parse_counter(item::value(b)) else {
            return DeltaResult::NonNumeric;
        };
        let new = if incr {
            cur.wrapping_add(delta)
        } else {
            cur.saturating_sub(delta)
        };
        let mut digits = [0u8; 20];
        let n = fmt_u64(new, &mut digits);
        let c = self.slab.class_of(h);
        if incr {
            self.stats.incr_hits += 1;
            self.cls[c].incr_hits += 1;
        } else {
            self.stats.decr_hits += 1;
            self.cls[c].decr_hits += 1;
        }
        if n <= item::vlen(b) {
            // memcached 1.6 rewrites in place and pads with spaces.
            let v = self.next_version();
            let b = self.slab.chunk_mut(h);
            let val = item::value_mut(b);
            val[..n].copy_from_slice(&digits[..n]);
            val[n..].fill(b' ');
            item::set_version(b, v);
            self.log_item(h);
        } else {
            let (flags, exp) = (item::flags(b), item::exptime(b));
            if self
                .write_item(key, hash, flags, exp, &digits[..n], &[])
                .is_none()
            {
                return DeltaResult::OutOfMemory;
            }
        }
        DeltaResult::Value(new)
    }

    pub fn flush_all(&mut self, delay: i64) {
        let at = if delay <= 0 {
            0
        } else {
            self.abs_exptime(delay)
        };
        if at <= self.now_secs {
            let v = self.next_version();
            self.flushed_below = self.flushed_below.max(v);
            self.pending_flush_ms = None;
            self.log.put(MutationRef::Flush {
                before_version: v,
                at_unix_secs: self.now_secs,
            });
        } else {
            let t = at as u64 * 1000;
            self.pending_flush_ms = Some(t);
            self.log.put(MutationRef::Flush {
                before_version: t << 20,
                at_unix_secs: at,
            });
        }
    }

    pub fn reclaim_step(&mut self, budget: usize) -> usize {
        let n = self.lru.len();
        let (mut freed, mut examined, mut visited) = (0, 0, 0);
        while examined < budget {
            let h = self.crawl_cursor;
            if h == NIL {
                if visited == n {
                    break;
                }
                visited += 1;
                self.crawl_class = (self.crawl_class + 1) % n;
                self.crawl_cursor = self.lru[self.crawl_class].tail;
                continue;
            }
            examined += 1;
            self.crawl_cursor = self.slab.link(h, OFF_PREV);
            if self.life(h) != Life::Alive {
                self.drop_item(h, self.hash_of(h));
                freed += 1;
            }
        }
        freed
    }

    pub fn stats(&self) -> StoreStats {
        let mut s = self.stats;
        // Every get ends as a hit or a miss, so the get path keeps one counter fewer.
        s.cmd_get = s.get_hits + s.get_misses;
        s.total_pages = self.slab.charged_pages() as u64;
        s.limit_bytes = self.cfg.mem_limit as u64;
        s.hash_bytes = self.index.bytes() as u64;
        s.hash_power_level = self.index.power() as u64;
        s.hash_is_expanding = self.index.expanding() as u64;
        s
    }

    pub fn class_stats(&self) -> Vec<ClassStats> {
        let large = self.slab.large;
        let mut out = Vec::new();
        for (c, sc) in self.slab.classes.iter().enumerate() {
            if !sc.ever {
                continue;
            }
            let k = &self.cls[c];
            let tail = self.lru[c].tail;
            let age_secs = if tail == NIL {
                0
            } else {
                let written_ms = item::version(self.slab.chunk(tail)) >> 20;
                self.now_ms.saturating_sub(written_ms) / 1000
            };
            let (per, chunks, free) = if c == large {
                (1, k.items, 0)
            } else {
                let per = sc.per_page as u64;
                (per, per * sc.pages as u64, sc.free.len as u64)
            };
            out.push(ClassStats {
                id: c as u64 + 1,
                chunk_size: sc.size as u64,
                chunks_per_page: per,
                total_pages: sc.pages as u64,
                total_chunks: chunks,
                used_chunks: k.items,
                free_chunks: free,
                items: k.items,
                age_secs,
                evicted: k.evicted,
                evicted_nonzero: k.evicted_nonzero,
                evicted_unfetched: k.evicted_unfetched,
                reclaimed: k.reclaimed,
                expired_unfetched: k.expired_unfetched,
                outofmemory: k.outofmemory,
                mem_requested: k.mem_requested,
                get_hits: k.get_hits,
                cmd_set: k.cmd_set,
                delete_hits: k.delete_hits,
                incr_hits: k.incr_hits,
                decr_hits: k.decr_hits,
                cas_hits: k.cas_hits,
                cas_badval: k.cas_badval,
                touch_hits: k.touch_hits,
            });
        }
        out
    }

    pub fn reset_stats(&mut self) {
        self.stats.reset_counters();
        for c in &mut self.cls {
            c.reset_counters();
        }
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

    fn next_version(&mut self) -> u64 {
        let v = ((self.last_version | 0xff) + 1).max(self.now_ms << 20);
        let v = (v & !0xff) | self.cfg.node_id as u64;
        self.last_version = v;
        v
    }

    /// The current point on the version clock, for comparing item ages.
    fn now_version(&self) -> u64 {
        self.last_version.max(self.now_ms << 20)
    }

    fn abs_exptime(&self, exptime: i64) -> u32 {
        if exptime == 0 {
            0
        } else if exptime < 0 {
            // Any past time works; 1 keeps it distinct from "never".
            1
        } else if exptime <= REL_MAX {
            (self.now_secs as i64 + exptime).min(u32::MAX as i64) as u32
        } else {
            exptime.min(u32::MAX as i64) as u32
        }
    }

    fn class_for(&self, total: usize) -> usize {
        self.slab.class_for(total)
    }

    #[inline]
    fn life(&self, h: u32) -> Life {
        self.life_of(&item::head(self.slab.chunk(h)))
    }

    #[inline(always)]
    fn life_of(&self, hd: &item::Head) -> Life {
        if hd.ver < self.flushed_below {
            Life::Flushed
        } else if hd.exp != 0 && hd.exp <= self.now_secs {
            Life::Expired
        } else {
            Life::Alive
        }
    }

    /// Finds a live item; a dead one found on the way is freed and counted.
    #[inline]
    fn lookup(&mut self, key: &[u8], hash: u64) -> Option<u32> {
        let h = self.index.find(&self.slab, hash, key)?;
        match self.life(h) {
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
            self.stats.get_flushed += 1;
        } else {
            self.stats.get_expired += 1;
        }
        self.unlink(h, hash);
    }

    #[inline]
    fn bump(&mut self, h: u32) {
        let b = self.slab.chunk_mut(h);
        let w = item::word(b);
        item::mark_hit(b, w);
    }

    fn bump_and_view(&mut self, h: u32) -> ItemView<'_> {
        self.bump(h);
        let b = self.slab.chunk(h);
        ItemView::of(&item::head(b), b, self.cfg.cas)
    }

    fn log_item(&mut self, h: u32) {
        if self.log.is_on() {
            let version = item::version(self.slab.chunk(h));
            self.log_item_as(h, version);
        }
    }

    /// Logs item `h` as a write of its current state under `version`.
    fn log_item_as(&mut self, h: u32, version: u64) {
        let b = self.slab.chunk(h);
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

    /// Allocates, writes and links a new item (value = a ++ c), replacing any old one.
    fn write_item(
        &mut self,
        key: &[u8],
        hash: u64,
        flags: u32,
        exp: u32,
        a: &[u8],
        c: &[u8],
    ) -> Option<u32> {
        // The bucket of the new key loads while the allocation deals with its own misses.
        self.index.prefetch_bucket(hash);
        let total = item::total_len(key.len(), a.len() + c.len(), flags);
        let class = self.class_for(total);
        let large = self.slab.large;
        // In a full store a new key's chunk comes from evicting a tail item; do that before
        // reading the bucket so the bucket loads meanwhile. If the key then turns out to have
        // an item of this class (rewritten in place), the chunk waits on the free list for
        // the next write. Not under -M, where this allocation could fail or count an OOM that
        // the in-place rewrite would not have needed.
        let early = self.cfg.evictions && class != large && self.slab.classes[class].free.len == 0;
        let fresh = if early {
            self.alloc(class, total)
        } else {
            None
        };
        let mut old = self.index.find(&self.slab, hash, key);
        if let Some(o) = old {
            if class != large && self.slab.class_of(o) == class {
                if let Some(f) = fresh {
                    self.slab.free_chunk(f);
                }
                return Some(self.overwrite_in_place(o, key, flags, exp, a, c, total));
            }
            // Unlinking the old item reads both LRU neighbours; start loading them.
            self.slab.prefetch_chunk(self.slab.link(o, OFF_PREV));
            self.slab.prefetch_chunk(self.slab.link(o, OFF_NEXT));
        }
        let h = match fresh {
            Some(h) => h,
            // Already failed (and counted) above.
            None if early => return None,
            None => {
                let h = self.alloc(class, total)?;
                // The allocation may have evicted or moved the old item (but never adds one).
                if old.is_some() {
                    old = self.index.find(&self.slab, hash, key);
                }
                h
            }
        };
        let ver = self.next_version();
        item::write(self.slab.chunk_mut(h), key, flags, exp, ver, a, c);
        if let Some(o) = old {
            self.unlink(o, hash);
        }
        self.index.insert(&self.slab, hash, h);
        self.lru[class].push_head(&mut self.slab, h);
        self.stats.curr_items += 1;
        self.stats.total_items += 1;
        self.stats.bytes += total as u64;
        self.cls[class].items += 1;
        self.cls[class].mem_requested += total as u64;
        self.log_item(h);
        Some(h)
    }

    /// Writes a new item of the same class as `old` into `old`'s chunk and moves it to the LRU
    /// head: no allocation, and the index entry (same key, same handle) stays as it is. In a
    /// full store a run of overwrites evicts one item (see `write_item`), not one per write.
    /// Callers pass nothing that points into the chunk.
    #[allow(clippy::too_many_arguments)]
    fn overwrite_in_place(
        &mut self,
        old: u32,
        key: &[u8],
        flags: u32,
        exp: u32,
        a: &[u8],
        c: &[u8],
        total: usize,
    ) -> u32 {
        let class = self.slab.class_of(old);
        let old_total = item::total(self.slab.chunk(old)) as u64;
        if old == self.crawl_cursor {
            self.crawl_cursor = self.slab.link(old, OFF_PREV);
        }
        self.lru[class].unlink(&mut self.slab, old);
        let ver = self.next_version();
        item::write(self.slab.chunk_mut(old), key, flags, exp, ver, a, c);
        self.lru[class].push_head(&mut self.slab, old);
        self.stats.total_items += 1;
        self.stats.bytes = self.stats.bytes - old_total + total as u64;
        let k = &mut self.cls[class];
        k.mem_requested = k.mem_requested - old_total + total as u64;
        self.log_item(old);
        old
    }

    /// Removes an item from the index, its LRU and the gauges, leaving the chunk to the caller.
    fn detach(&mut self, h: u32, hash: u64) {
        let (chunk, c) = self.slab.chunk_class(h);
        let total = item::total(chunk) as u64;
        let found = self.index.remove(hash, h);
        debug_assert!(found);
        if self.victim_hint.0 == h {
            // The chunk may next hold another key.
            self.victim_hint.0 = NIL;
        }
        if h == self.crawl_cursor {
            self.crawl_cursor = self.slab.link(h, OFF_PREV);
        }
        self.lru[c].unlink(&mut self.slab, h);
        self.stats.curr_items -= 1;
        self.stats.bytes -= total;
        self.cls[c].items -= 1;
        self.cls[c].mem_requested -= total;
    }

    fn unlink(&mut self, h: u32, hash: u64) {
        self.detach(h, hash);
        self.slab.free_chunk(h);
    }

    /// Counts an item removed to make room: reclaimed if dead, else evicted.
    fn count_drop(&mut self, h: u32) {
        let (b, c) = self.slab.chunk_class(h);
        let w = item::word(b);
        let unfetched = w & FETCHED == 0;
        let dead = self.life(h) != Life::Alive;
        let nonzero = item::exptime(b) != 0;
        let k = &mut self.cls[c];
        if dead {
            self.stats.reclaimed += 1;
            k.reclaimed += 1;
            if unfetched {
                self.stats.expired_unfetched += 1;
                k.expired_unfetched += 1;
            }
        } else {
            self.stats.evictions += 1;
            k.evicted += 1;
            if nonzero {
                k.evicted_nonzero += 1;
            }
            if unfetched {
                self.stats.evicted_unfetched += 1;
                k.evicted_unfetched += 1;
            }
            if w & ACTIVE != 0 {
                self.stats.evicted_active += 1;
            }
        }
    }

    fn drop_item(&mut self, h: u32, hash: u64) {
        self.count_drop(h);
        self.unlink(h, hash);
    }

    fn oom(&mut self, c: usize) -> Option<u32> {
        self.stats.outofmemory += 1;
        self.cls[c].outofmemory += 1;
        None
    }

    fn alloc(&mut self, c: usize, total: usize) -> Option<u32> {
        if c == self.slab.large {
            return self.alloc_large(total);
        }
        if let Some(h) = self.slab.pop_free(c) {
            return Some(h);
        }
        if self.slab.grow(c) || self.slab.take_empty_page(c) {
            return self.slab.pop_free(c);
        }
        if self.reclaim_tail(c) > 0
            && let Some(h) = self.slab.pop_free(c)
        {
            return Some(h);
        }
        if !self.cfg.evictions {
            return self.oom(c);
        }
        for _ in 0..4 {
            match self.pick_victim(c) {
                Some(t) => self.take_page_of(t, Some(c)),
                // The victim's chunk is of class c: take it as it is rather than through the
                // free list.
                None => match self.evict_tail(c, true) {
                    Some(h) => return Some(h),
                    None => break,
                },
            }
            if let Some(h) = self.slab.pop_free(c) {
                return Some(h);
            }
            // Evicting a large item frees budget rather than chunks.
            if self.slab.grow(c) {
                return self.slab.pop_free(c);
            }
        }
        self.oom(c)
    }

    fn alloc_large(&mut self, total: usize) -> Option<u32> {
        let large = self.slab.large;
        if self.slab.pages_for_large(total) > self.slab.limit_pages() {
            return self.oom(large);
        }
        // Every round frees something or gives up, so this ends.
        loop {
            if let Some(h) = self.slab.alloc_large(total) {
                return Some(h);
            }
            if self.slab.release_empty_page() || self.reclaim_tail(large) > 0 {
                continue;
            }
            if !self.cfg.evictions {
                return self.oom(large);
            }
            if let Some(t) = self.pick_victim(large) {
                self.take_page_of(t, None);
            } else if self.evict_tail(large, false).is_none() {
                return self.oom(large);
            }
        }
    }

    /// The key hash of item `h`, from the victim hint when it still describes `h`.
    #[inline]
    fn hash_of(&self, h: u32) -> u64 {
        let b = self.slab.chunk(h);
        let (hh, ver, hash) = self.victim_hint;
        if hh == h && item::version(b) == ver {
            hash
        } else {
            hash_key(item::key(b))
        }
    }

    /// Hashes the item that will be evicted next in class `c` and starts loading its bucket.
    fn hint_victim(&mut self, c: usize) {
        let t = self.lru[c].tail;
        if t != NIL {
            let b = self.slab.chunk(t);
            let hash = hash_key(item::key(b));
            self.victim_hint = (t, item::version(b), hash);
            self.index.prefetch_bucket(hash);
        }
    }

    /// Frees dead items among the last few of class `c`'s LRU.
    fn reclaim_tail(&mut self, c: usize) -> usize {
        let mut h = self.lru[c].tail;
        let mut freed = 0;
        for _ in 0..RECLAIM_PEEK {
            if h == NIL {
                break;
            }
            let prev = self.slab.link(h, OFF_PREV);
            if self.life(h) != Life::Alive {
                self.drop_item(h, self.hash_of(h));
                freed += 1;
            }
            h = prev;
        }
        // Under steady eviction the next call peeks one item further; start loading it.
        if h != NIL {
            self.slab.prefetch_chunk(h);
        }
        freed
    }

    /// Evicts class `c`'s tail, first moving a bounded number of active tail items to the head.
    /// Returns the victim's handle; with `reuse` its chunk stays allocated for the caller
    /// instead of going back to the free list.
    fn evict_tail(&mut self, c: usize, reuse: bool) -> Option<u32> {
        let mut rescues = 0;
        loop {
            let t = self.lru[c].tail;
            if t == NIL {
                return None;
            }
            let w = item::word(self.slab.chunk(t));
            if w & ACTIVE != 0 && rescues < MAX_RESCUES && self.lru[c].len > 1 {
                item::set_word(self.slab.chunk_mut(t), w & !ACTIVE);
                if t == self.crawl_cursor {
                    self.crawl_cursor = self.slab.link(t, OFF_PREV);
                }
                self.lru[c].unlink(&mut self.slab, t);
                self.lru[c].push_head(&mut self.slab, t);
                rescues += 1;
                continue;
            }
            let hash = self.hash_of(t);
            self.count_drop(t);
            self.detach(t, hash);
            if !reuse {
                self.slab.free_chunk(t);
            }
            self.hint_victim(c);
            return Some(t);
        }
    }

    /// The tail item of another class whose page should go to `c`, if any: when `c` has no
    /// items, the oldest tail anywhere; otherwise a tail more than twice as old as `c`'s, in a
    /// class with more than one page. Ages are measured on the version clock, so they order
    /// writes even when the wall clock stands still.
    fn pick_victim(&mut self, c: usize) -> Option<u32> {
        let large = self.slab.large;
        let own_tail = self.lru[c].tail;
        let now_v = self.now_version();
        let own_age = if own_tail != NIL {
            self.move_tick[c] = self.move_tick[c].wrapping_add(1);
            if !self.move_tick[c].is_multiple_of(MOVE_CHECK_EVERY) {
                return None;
            }
            Some(now_v.saturating_sub(item::version(self.slab.chunk(own_tail))))
        } else {
            None
        };
        let mut best: Option<(u64, u32)> = None;
        for v in 0..self.lru.len() {
            let t = self.lru[v].tail;
            if v == c || t == NIL {
                continue;
            }
            let b = self.slab.chunk(t);
            if own_age.is_some()
                && (item::word(b) & ACTIVE != 0 || (v != large && self.slab.classes[v].pages <= 1))
            {
                continue;
            }
            let age = now_v.saturating_sub(item::version(b));
            if best.is_none_or(|(a, _)| age > a) {
                best = Some((age, t));
            }
        }
        let (age, t) = best?;
        match own_age {
            Some(own) if age <= own.saturating_mul(2) => None,
            _ => Some(t),
        }
    }

    /// Empties the page holding item `t` (live items move to free chunks of their class when
    /// there are any, else are evicted) and gives it to class `to`, or frees its memory.
    fn take_page_of(&mut self, t: u32, to: Option<usize>) {
        let v = self.slab.class_of(t);
        if v == self.slab.large {
            self.drop_item(t, self.hash_of(t));
            return;
        }
        let p = self.slab.page_of(t);
        // Items of the page move to other chunks without `detach`.
        self.victim_hint.0 = NIL;
        self.slab.detach_page(p);
        for h in self.slab.page_handles(p) {
            if item::word(self.slab.chunk(h)) & USED == 0 {
                continue;
            }
            let hash = self.hash_of(h);
            if self.life(h) == Life::Alive
                && let Some(d) = self.slab.pop_free(v)
            {
                let total = item::total(self.slab.chunk(h));
                self.slab.copy_chunk(h, d, total);
                self.lru[v].relocate(&mut self.slab, h, d);
                self.index.relocate(hash, h, d);
                if self.crawl_cursor == h {
                    self.crawl_cursor = d;
                }
            } else {
                self.count_drop(h);
                self.detach(h, hash);
            }
            self.slab.clear_used(h);
        }
        match to {
            Some(c) => self.slab.give_page(p, c),
            None => self.slab.release_page(p),
        }
        self.stats.slabs_moved += 1;
    }
}

/// memcached's safe_strtoull on an item value: optional leading whitespace and sign, at least
/// one digit, then the end or whitespace; no overflow; a '-' only allowed for zero-ish values
/// that do not look negative.
pub(crate) fn parse_counter(v: &[u8]) -> Option<u64> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut i = 0;
    while i < v.len() && is_space(v[i]) {
        i += 1;
    }
    let neg = match v.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut n: u64 = 0;
    while i < v.len() && v[i].is_ascii_digit() {
        n = n.checked_mul(10)?.checked_add((v[i] - b'0') as u64)?;
        i += 1;
    }
    if i == start || (i < v.len() && !is_space(v[i])) {
        return None;
    }
    if neg {
        n = n.wrapping_neg();
        if (n as i64) < 0 {
            return None;
        }
    }
    Some(n)
}

fn fmt_u64(mut n: u64, out: &mut [u8; 20]) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = 20;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = 20 - i;
    out[..len].copy_from_slice(&tmp[i..]);
    len
}

#[cfg(test)]
impl Store {
    /// The version of a live item, without counting or bumping anything.
    pub(crate) fn peek_live(&self, h: u32) -> Option<u64> {
        (self.life(h) == Life::Alive).then(|| item::version(self.slab.chunk(h)))
    }
}

#[path = "store_replica.rs"]
mod replica;
pub use replica::ItemMeta;

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
