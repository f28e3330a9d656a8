//! What `stats`, `stats slabs`, `stats items` and `stats cachedump` read from a store, and
//! `stats reset`.

use super::Store;
use crate::storage::clock::Life;
use crate::storage::item::{self, OFF_NEXT, USED};
use crate::storage::slab::NIL;
use crate::storage::stats::{ClassStats, StoreStats};

impl Store {
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
    /// The cursor names the next item by its handle and the low 32 bits of its version
    /// (unique per write). A handle into an LRU can be unlinked between calls, so it is
    /// checked before use: if that item has gone or changed, the walk ends there. Items
    /// written during a dump may or may not appear, as in memcached; here a write to the
    /// one item under the cursor also ends the listing early.
    pub fn cachedump_step(
        &self,
        class: usize,
        cursor: u64,
        max: usize,
        out: &mut Vec<CacheDumpEntry>,
    ) -> Option<u64> {
        let slab = &self.mem.slab;
        if class >= self.mem.lru.classes() {
            return None;
        }
        let mut h = if cursor == 0 {
            self.mem.lru.head(class)
        } else {
            self.resume(class, cursor)?
        };
        let mut taken = 0;
        while h != NIL {
            if taken >= max {
                let ver = item::version(slab.chunk(h));
                return Some((u64::from(h) + 1) << 32 | (ver & 0xffff_ffff));
            }
            let b = slab.chunk(h);
            if self.mem.life(h, &self.clock) == Life::Alive {
                out.push(CacheDumpEntry {
                    key: item::key(b).to_vec(),
                    value_len: item::vlen(b) as u32,
                    exptime: item::exptime(b),
                });
                taken += 1;
            }
            h = slab.link(h, OFF_NEXT);
        }
        None
    }

    /// The item a cachedump cursor names, if it is still that item in that class's LRU.
    fn resume(&self, class: usize, cursor: u64) -> Option<u32> {
        let slab = &self.mem.slab;
        let h = u32::try_from((cursor >> 32).checked_sub(1)?).ok()?;
        if !slab.is_chunk(h) {
            return None;
        }
        let b = slab.chunk(h);
        let same = item::word(b) & USED != 0
            && slab.class_of(h) == class
            && item::version(b) & 0xffff_ffff == cursor & 0xffff_ffff;
        same.then_some(h)
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
