//! Store counters with memcached's `stats` names, each declared once with its kind and help:
//! shard-wide (`StoreStats`) and per slab class (`ClassStats`). Counters are zeroed by
//! `stats reset`; gauges (current sizes) are not.

use crate::counters::counters;

counters! {
    plain
    /// Shard-wide counters and gauges; the server sums these over shards.
    pub struct StoreStats {
        curr_items: Gauge, "Items stored now.";
        total_items: Counter, "Items ever stored.";
        bytes: Gauge, "Bytes of live items (header, key and value).";
        evictions: Counter, "Live items evicted to make room.";
        evicted_unfetched: Counter, "Evicted items that were never read.";
        evicted_active: Counter, "Evicted items that had been read recently.";
        moves_within_lru: Counter, "Read tail items moved back to their LRU's head instead of being evicted.";
        reclaimed: Counter, "Dead items whose memory was reused.";
        expired_unfetched: Counter, "Expired items that were never read.";
        crawler_reclaimed: Counter, "Expired or flushed items the LRU crawler freed.";
        crawler_items_checked: Counter, "Items the LRU crawler examined.";
        outofmemory: Counter, "Stores refused for want of memory.";
        slabs_moved: Counter, "Pages moved from one slab class to another.";
        cmd_get: Counter, "Get requests (get_hits + get_misses, filled in by Store::stats).";
        cmd_set: Counter, "Storage requests.";
        cmd_touch: Counter, "Touch requests.";
        get_hits: Counter, "Keys found by get.";
        get_misses: Counter, "Keys not found by get.";
        get_expired: Counter, "Keys get found expired.";
        get_flushed: Counter, "Keys get found invalidated by flush_all.";
        delete_hits: Counter, "Deletes that found their key.";
        delete_misses: Counter, "Deletes that did not find their key.";
        incr_hits: Counter, "Incrs that found their key.";
        incr_misses: Counter, "Incrs that did not find their key.";
        decr_hits: Counter, "Decrs that found their key.";
        decr_misses: Counter, "Decrs that did not find their key.";
        cas_hits: Counter, "CAS commands that stored.";
        cas_misses: Counter, "CAS commands whose key was missing.";
        cas_badval: Counter, "CAS commands refused because the item had changed.";
        touch_hits: Counter, "Touches that found their key.";
        touch_misses: Counter, "Touches that did not find their key.";
        total_pages: Gauge, "Item memory pages in use.";
        limit_bytes: Gauge, "Item memory this shard may use.";
        hash_bytes: Gauge, "Index memory, reported apart from item memory.";
        hash_power_level: Gauge(Max), "Index size as a power of two.";
        hash_is_expanding: Gauge(Max), "1 while the index is growing.";
    }
}

counters! {
    plain
    /// One slab class, as `stats slabs` and `stats items` report it. The store keeps one per
    /// class (as `ClassCounters`); the geometry is filled in when reported.
    pub struct ClassStats {
        id: Gauge(Max), "Slab class number.";
        chunk_size: Gauge(Max), "Bytes per chunk.";
        chunks_per_page: Gauge(Max), "Chunks in one page.";
        total_pages: Gauge, "Pages given to this class.";
        total_chunks: Gauge, "Chunks in those pages.";
        used_chunks: Gauge, "Chunks holding items.";
        free_chunks: Gauge, "Chunks free for reuse.";
        items as "number": Gauge, "Live items.";
        age_secs as "age": Gauge(Max), "Seconds since the LRU tail was written or rescued.";
        evicted: Counter, "Items evicted from this class.";
        evicted_nonzero: Counter, "Evicted items that had an expiry time.";
        evicted_unfetched: Counter, "Evicted items that were never read.";
        evicted_active: Counter, "Evicted items that had been read recently.";
        moves_within_lru: Counter, "Read tail items moved back to the LRU's head instead of being evicted.";
        reclaimed: Counter, "Dead items whose memory was reused.";
        expired_unfetched: Counter, "Expired items that were never read.";
        crawler_reclaimed: Counter, "Expired or flushed items the LRU crawler freed.";
        crawler_items_checked: Counter, "Items the LRU crawler examined.";
        outofmemory: Counter, "Stores refused for want of memory.";
        mem_requested: Gauge, "Bytes the live items need.";
        get_hits: Counter, "Gets that found an item of this class.";
        cmd_set: Counter, "Stores into this class.";
        delete_hits: Counter, "Deletes that found an item of this class.";
        incr_hits: Counter, "Incrs that found an item of this class.";
        decr_hits: Counter, "Decrs that found an item of this class.";
        cas_hits: Counter, "CAS commands that stored into this class.";
        cas_badval: Counter, "CAS commands refused on an item of this class.";
        touch_hits: Counter, "Touches that found an item of this class.";
    }
}

/// What the store keeps per class: the same declared set, geometry left at zero.
pub(crate) type ClassCounters = ClassStats;

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
            mem_requested: 9,
            get_hits: 4,
            ..Default::default()
        };
        c.reset_counters();
        assert_eq!((c.items, c.mem_requested, c.get_hits), (1, 9, 0));
    }

    #[test]
    fn classes_merge_geometry_by_max_and_age_by_worst() {
        let a = ClassStats {
            id: 3,
            chunk_size: 96,
            items: 2,
            age_secs: 5,
            ..Default::default()
        };
        let b = ClassStats {
            id: 3,
            chunk_size: 96,
            items: 4,
            age_secs: 9,
            ..Default::default()
        };
        let t = ClassStats::total([&a, &b]);
        assert_eq!((t.id, t.chunk_size, t.items, t.age_secs), (3, 96, 6, 9));
    }
}
