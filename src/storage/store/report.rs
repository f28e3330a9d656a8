//! What `stats`, `stats slabs`, `stats items` and `stats cachedump` read from a store, and
//! `stats reset`.

use super::Store;
use crate::storage::clock::Life;
use crate::storage::item::{self, OFF_NEXT};
use crate::storage::slab::NIL;
use crate::storage::stats::{ClassStats, StoreStats};

impl Store {
    /// `cache_memlimit`: this shard's new share of item memory. Shrinking frees pages down
    /// to it at once (evicting as needed); growing lets the shard take more pages.
    pub fn set_mem_limit(&mut self, bytes: usize) -> Result<(), String> {
        self.mem.set_limit(bytes, &self.clock)?;
        self.cfg.mem_limit = bytes;
        Ok(())
    }

    /// Whether `set_mem_limit(bytes)` would be taken.
    pub fn mem_limit_fits(&self, bytes: usize) -> bool {
        self.mem.slab.limit_fits(bytes)
    }

    /// Slab classes, the large-item class included (ids 1..=count).
    pub fn class_count(&self) -> usize {
        self.mem.slab.classes.len()
    }

    pub fn stats(&self) -> StoreStats {
        let mem = &self.mem;
        let mut s = mem.stats;
        // Every get ends as a hit or a miss, so the get path keeps one counter fewer.
        s.cmd_get = s.get_hits + s.get_misses;
        s.total_pages = mem.slab.charged_pages() as u64;
        s.limit_bytes = self.cfg.mem_limit as u64;
        s.hash_bytes = mem.index.bytes() as u64;
        s.hash_power_level = mem.index.power() as u64;
        s.hash_is_expanding = mem.index.expanding() as u64;
        s
    }

    pub fn class_stats(&self) -> Vec<ClassStats> {
        let mem = &self.mem;
        let large = mem.slab.large;
        let mut out = Vec::new();
        for (c, sc) in mem.slab.classes.iter().enumerate() {
            if !sc.ever {
                continue;
            }
            let k = &mem.cls[c];
            let tail = mem.lru.tail(c);
            let age_secs = if tail == NIL {
                0
            } else {
                let written_ms = item::version(mem.slab.chunk(tail)) >> 20;
                self.clock.now_ms.saturating_sub(written_ms) / 1000
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
                age_secs,
                // The class's own counters are a `ClassStats` already.
                ..*k
            });
        }
        out
    }

    pub fn reset_stats(&mut self) {
        self.mem.stats.reset_counters();
        for c in &mut self.mem.cls {
            c.reset_counters();
        }
    }

    /// `stats cachedump`: up to `max` live items of class index `class`, walking its LRU
    /// from the head (newest first, as memcached lists them), from `cursor` (0: the head).
    /// Returns where to continue, or None at the list's end.
    ///
    /// A walk that stops before the end keeps its place as a mark in the LRUs, which every
    /// unlink and relocation moves along, so the place never dangles: items written or
    /// removed during a dump may or may not appear, as in memcached, and the rest appear
    /// once. A few walks keep marks at once; a further one takes over the least recently
    /// used, whose walk then ends early.
    pub fn cachedump_step(
        &mut self,
        class: usize,
        cursor: u64,
        max: usize,
        out: &mut Vec<CacheDumpEntry>,
    ) -> Option<u64> {
        if class >= self.mem.lru.classes() {
            return None;
        }
        let mut h = match cursor {
            0 => self.mem.lru.head(class),
            mark => self.mem.lru.mark_at(mark)?,
        };
        let mut taken = 0;
        while h != NIL && taken < max {
            let b = self.mem.slab.chunk(h);
            if self.mem.life(h, &self.clock) == Life::Alive {
                out.push(CacheDumpEntry {
                    key: item::key(b).to_vec(),
                    value_len: item::vlen(b) as u32,
                    exptime: item::exptime(b),
                });
                taken += 1;
            }
            h = self.mem.slab.link(h, OFF_NEXT);
        }
        let lru = &mut self.mem.lru;
        match cursor {
            _ if h == NIL => {
                lru.unmark(cursor);
                None
            }
            0 => Some(lru.mark(h)),
            mark => {
                lru.move_mark(mark, h);
                Some(mark)
            }
        }
    }
}

/// One item as `stats cachedump` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheDumpEntry {
    pub key: Vec<u8>,
    /// Bytes of the value.
    pub value_len: u32,
    /// Absolute unix seconds, 0 = never.
    pub exptime: u32,
}
