//! What `watch` needs of the store, as plain data: what a key holds before a command runs
//! (without counting or changing anything), the class and TTL a write would give an item,
//! and the items evicted since the shard last asked. No I/O: the shard formats and ships.

use super::Store;
use crate::storage::clock::Life;
use crate::storage::hash::hash_key;
use crate::storage::item;
use crate::storage::types::{Evicted, Peek};

impl Store {
    /// What `key` holds now; a dead item is reported as such and left where it is.
    pub fn peek(&self, key: &[u8]) -> Peek {
        let Some(h) = self.mem.index.find(&self.mem.slab, hash_key(key), key) else {
            return Peek::Missing;
        };
        match self.mem.life(h, &self.clock) {
            Life::Alive => Peek::Live {
                class: self.mem.slab.class_of(h) as u32 + 1,
                size: item::vlen(self.mem.slab.chunk(h)),
            },
            Life::Expired => Peek::Expired,
            Life::Flushed => Peek::Flushed,
        }
    }

    /// The slab class id (1-based) an item of this key, value and flags goes to.
    pub fn class_id_for(&self, key_len: usize, value_len: usize, flags: u32) -> u32 {
        let total = item::total_len(key_len, value_len, flags);
        self.mem.slab.class_for(total) as u32 + 1
    }

    /// Seconds left of a command's exptime (0 for none; memcached's rules for absolute
    /// and negative times).
    pub fn ttl_left(&self, exptime: i64) -> u32 {
        match self.clock.abs_exptime(exptime) {
            0 => 0,
            abs => abs.wrapping_sub(self.clock.now_secs),
        }
    }

    /// Starts (or stops) keeping the items evicted, for [`Store::take_evicted`].
    pub fn watch_evictions(&mut self, on: bool) {
        match (on, self.mem.evicted.is_some()) {
            (true, false) => self.mem.evicted = Some(Vec::new()),
            (false, true) => self.mem.evicted = None,
            _ => {}
        }
    }

    /// Moves the items evicted since the last call into `out`.
    pub fn take_evicted(&mut self, out: &mut Vec<Evicted>) {
        if let Some(v) = &mut self.mem.evicted {
            out.append(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::Store;
    use crate::storage::types::{Peek, StoreConfig, StoreMode};

    fn small() -> Store {
        Store::new(StoreConfig {
            mem_limit: 2 << 20,
            page_size: 64 << 10,
            ..StoreConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn peek_sees_without_touching() {
        let mut s = small();
        s.set_clock(10_000_000);
        assert_eq!(s.peek(b"a"), Peek::Missing);
        s.store_versioned(StoreMode::Set, b"a", 0, 0, b"abcd");
        let class = s.class_id_for(1, 4, 0);
        assert_eq!(s.peek(b"a"), Peek::Live { class, size: 4 });
        s.store_versioned(StoreMode::Set, b"e", 0, 1, b"x");
        s.set_clock(10_002_000);
        assert_eq!(s.peek(b"e"), Peek::Expired);
        let before = s.stats();
        assert_eq!(s.peek(b"e"), Peek::Expired);
        assert_eq!(s.stats().get_expired, before.get_expired);
        s.flush_all(0);
        assert_eq!(s.peek(b"a"), Peek::Flushed);
        assert_eq!(s.ttl_left(100), 100);
        assert_eq!(s.ttl_left(0), 0);
    }

    #[test]
    fn evictions_are_kept_only_while_watched() {
        let mut s = small();
        let value = vec![b'v'; 10_000];
        let fill = |s: &mut Store, from: usize| {
            for i in from..from + 400 {
                s.store_versioned(StoreMode::Set, format!("k{i}").as_bytes(), 0, 0, &value);
            }
        };
        fill(&mut s, 0);
        let mut out = Vec::new();
        s.take_evicted(&mut out);
        assert!(out.is_empty() && s.stats().evictions > 0);
        s.watch_evictions(true);
        fill(&mut s, 400);
        s.take_evicted(&mut out);
        assert!(!out.is_empty());
        let e = &out[0];
        assert!(e.key.starts_with(b"k") && e.size == 10_000 && e.ttl == -1 && !e.fetched);
        s.watch_evictions(false);
        out.clear();
        fill(&mut s, 800);
        s.take_evicted(&mut out);
        assert!(out.is_empty());
    }
}
