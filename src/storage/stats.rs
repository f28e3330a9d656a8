//! Store counters with memcached's `stats` names: shard-wide (`StoreStats`) and per slab class
//! (`ClassStats`). Counters are zeroed by `stats reset`; gauges (current sizes) are not.

/// Shard-wide counters and gauges; the server sums these over shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub curr_items: u64,
    pub total_items: u64,
    /// Sum of live item sizes (header + key + value).
    pub bytes: u64,
    pub evictions: u64,
    pub evicted_unfetched: u64,
    pub evicted_active: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub outofmemory: u64,
    pub slabs_moved: u64,
    /// `get_hits + get_misses`, filled in by `Store::stats`.
    pub cmd_get: u64,
    pub cmd_set: u64,
    pub cmd_touch: u64,
    pub get_hits: u64,
    pub get_misses: u64,
    pub get_expired: u64,
    pub get_flushed: u64,
    pub delete_hits: u64,
    pub delete_misses: u64,
    pub incr_hits: u64,
    pub incr_misses: u64,
    pub decr_hits: u64,
    pub decr_misses: u64,
    pub cas_hits: u64,
    pub cas_misses: u64,
    pub cas_badval: u64,
    pub touch_hits: u64,
    pub touch_misses: u64,
    pub total_pages: u64,
    pub limit_bytes: u64,
    /// Index memory, reported apart from item memory.
    pub hash_bytes: u64,
    pub hash_power_level: u64,
    pub hash_is_expanding: u64,
}

impl StoreStats {
    /// Zeroes the counters and keeps the gauges, like memcached's `stats reset`.
    pub(crate) fn reset_counters(&mut self) {
        *self = StoreStats {
            curr_items: self.curr_items,
            bytes: self.bytes,
            ..Default::default()
        };
    }
}

/// One slab class, as `stats slabs` and `stats items` report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    pub id: u64,
    pub chunk_size: u64,
    pub chunks_per_page: u64,
    pub total_pages: u64,
    pub total_chunks: u64,
    pub used_chunks: u64,
    pub free_chunks: u64,
    /// Live items.
    pub items: u64,
    /// now - last write (or rescue) time of the LRU tail, in seconds.
    pub age_secs: u64,
    pub evicted: u64,
    pub evicted_nonzero: u64,
    pub evicted_unfetched: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub outofmemory: u64,
    pub mem_requested: u64,
    pub get_hits: u64,
    pub cmd_set: u64,
    pub delete_hits: u64,
    pub incr_hits: u64,
    pub decr_hits: u64,
    pub cas_hits: u64,
    pub cas_badval: u64,
    pub touch_hits: u64,
}

/// Per-class counters kept by the store; geometry is filled in when reported.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ClassCounters {
    pub items: u64,
    pub mem_requested: u64,
    pub evicted: u64,
    pub evicted_nonzero: u64,
    pub evicted_unfetched: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub outofmemory: u64,
    pub get_hits: u64,
    pub cmd_set: u64,
    pub delete_hits: u64,
    pub incr_hits: u64,
    pub decr_hits: u64,
    pub cas_hits: u64,
    pub cas_badval: u64,
    pub touch_hits: u64,
}

impl ClassCounters {
    pub(crate) fn reset_counters(&mut self) {
        *self = ClassCounters {
            items: self.items,
            mem_requested: self.mem_requested,
            ..Default::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_keeps_gauges() {
        let mut s = StoreStats {
            curr_items: 3,
            bytes: 10,
            cmd_get: 5,
            evictions: 2,
            ..Default::default()
        };
        s.reset_counters();
        assert_eq!(
            (s.curr_items, s.bytes, s.cmd_get, s.evictions),
            (3, 10, 0, 0)
        );
        let mut c = ClassCounters {
            items: 1,
            get_hits: 4,
            ..Default::default()
        };
        c.reset_counters();
        assert_eq!((c.items, c.get_hits), (1, 0));
    }
}
