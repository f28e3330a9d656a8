//! Item memory below the command semantics: where items live (slab, index, per-class LRUs),
//! allocation with eviction, active-item rescue and page moves against slab calcification,
//! and the LRU crawler (the background reclaim and `lru_crawler crawl` jobs, `crawl.rs`).
//! Every removal of an item goes through one hook, [`Memory::detach`], which keeps the
//! index, the LRUs, the crawler's cursors, the victim hint and the gauges consistent.

use super::clock::{Clock, Life};
use super::hash::hash_key;
use super::index::Index;
use super::item::{self, ACTIVE, FETCHED};
use super::lru::Lrus;
use super::slab::{NIL, Slab};
use super::stats::{ClassCounters, StoreStats};
use super::types::Evicted;

/// Active tail items moved back to the head per eviction before an active one is evicted.
const MAX_RESCUES: usize = 5;
/// Tail items checked for expiry before evicting a live one.
const RECLAIM_PEEK: usize = 5;
/// A class under eviction compares its tail age with other classes once per this many
/// evictions; the scan reads one header per class, too much to do on every eviction.
const MOVE_CHECK_EVERY: u32 = 8;
/// Evictions kept for a watcher between two takes; more in one batch are not reported.
const EVICTED_KEEP: usize = 4096;

pub(crate) struct Memory {
    pub slab: Slab,
    pub index: Index,
    pub lru: Lrus,
    /// The shard's counters. Most gauges change here; the layer above adds its command
    /// counters to the same structs, so that `stats` reads one place.
    pub stats: StoreStats,
    pub cls: Vec<ClassCounters>,
    /// false under -M: a full store answers OutOfMemory.
    evictions: bool,
    move_tick: Vec<u32>,
    /// (handle, version, key hash) of the likely next eviction victim, hashed one eviction early
    /// so that its index bucket loads meanwhile; trusted only while handle and version match,
    /// and cleared whenever that chunk could change keys (detach, page moves).
    victim_hint: (u32, u64, u64),
    /// An `lru_crawler crawl` in progress (`crawl.rs`).
    job: Option<CrawlJob>,
    /// With `watch evictions`: the items evicted since the shard last took them.
    pub evicted: Option<Vec<Evicted>>,
}

impl Memory {
    pub fn new(slab: Slab, evictions: bool) -> Self {
        let n = slab.classes.len();
        Memory {
            slab,
            index: Index::new(),
            lru: Lrus::new(n),
            stats: StoreStats::default(),
            cls: vec![ClassCounters::default(); n],
            evictions,
            move_tick: vec![0; n],
            victim_hint: (NIL, 0, 0),
            job: None,
            evicted: None,
        }
    }

    #[inline]
    pub fn life(&self, h: u32, clock: &Clock) -> Life {
        clock.life_of(&item::head(self.slab.chunk(h)))
    }

    /// Makes the item just written into chunk `h` (of `class`, `total` bytes) findable under
    /// `hash`, at the head of its LRU.
    pub fn link(&mut self, h: u32, hash: u64, class: usize, total: usize) {
        self.index.insert(&self.slab, hash, h);
        self.lru.push_head(&mut self.slab, class, h);
        self.stats.curr_items += 1;
        self.stats.total_items += 1;
        self.stats.bytes += total as u64;
        self.cls[class].items += 1;
        self.cls[class].mem_requested += total as u64;
    }

    /// Item `h` was rewritten in place (same key, same class; `old_total` bytes before,
    /// `total` now): it moves to its LRU head as a new write.
    pub fn rewritten(&mut self, h: u32, class: usize, old_total: usize, total: usize) {
        self.lru.move_to_head(&mut self.slab, class, h);
        self.stats.total_items += 1;
        self.stats.bytes = self.stats.bytes - old_total as u64 + total as u64;
        let k = &mut self.cls[class];
        k.mem_requested = k.mem_requested - old_total as u64 + total as u64;
    }

    /// The unlink hook: removes an item from the index, its LRU and the gauges, leaving the
    /// chunk to the caller. Every removal goes through here.
    pub fn detach(&mut self, h: u32, hash: u64) {
        let (chunk, c) = self.slab.chunk_class(h);
        let total = item::total(chunk) as u64;
        let found = self.index.remove(hash, h);
        debug_assert!(found);
        if self.victim_hint.0 == h {
            // The chunk may next hold another key.
            self.victim_hint.0 = NIL;
        }
        self.lru.unlink(&mut self.slab, c, h);
        self.stats.curr_items -= 1;
        self.stats.bytes -= total;
        self.cls[c].items -= 1;
        self.cls[c].mem_requested -= total;
    }

    /// Removes an item and frees its chunk.
    pub fn unlink(&mut self, h: u32, hash: u64) {
        self.detach(h, hash);
        self.slab.free_chunk(h);
    }

    /// Counts an item removed to make room: reclaimed if dead, else evicted.
    pub fn count_drop(&mut self, h: u32, clock: &Clock) {
        let dead = self.life(h, clock) != Life::Alive;
        let (b, c) = self.slab.chunk_class(h);
        let w = item::word(b);
        let unfetched = w & FETCHED == 0;
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
                k.evicted_active += 1;
            }
            if self.evicted.is_some() {
                self.note_evicted(h, clock);
            }
        }
    }

    /// Keeps what a watcher is told of evicted item `h`.
    #[cold]
    fn note_evicted(&mut self, h: u32, clock: &Clock) {
        let (b, c) = self.slab.chunk_class(h);
        let exp = item::exptime(b);
        let written = (item::version(b) >> 20) / 1000;
        let e = Evicted {
            key: item::key(b).to_vec(),
            fetched: item::word(b) & FETCHED != 0,
            ttl: if exp == 0 {
                -1
            } else {
                i64::from(exp) - i64::from(clock.now_secs)
            },
            idle: u64::from(clock.now_secs).saturating_sub(written) as u32,
            class: c as u32 + 1,
            size: item::vlen(b),
        };
        if let Some(v) = &mut self.evicted
            && v.len() < EVICTED_KEEP
        {
            v.push(e);
        }
    }

    fn drop_item(&mut self, h: u32, hash: u64, clock: &Clock) {
        self.count_drop(h, clock);
        self.unlink(h, hash);
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
        let t = self.lru.tail(c);
        if t != NIL {
            let b = self.slab.chunk(t);
            let hash = hash_key(item::key(b));
            self.victim_hint = (t, item::version(b), hash);
            self.index.prefetch_bucket(hash);
        }
    }
}

#[path = "crawl.rs"]
mod crawl;
#[path = "evict.rs"]
mod evict;

use crawl::CrawlJob;
