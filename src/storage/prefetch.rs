//! The prefetch schedule for serving many keys in a row: a lookup costs two dependent cache
//! misses (index bucket, then item), so while key i is served, key i + 2·D's bucket and key
//! i + D's item are already loading and the misses overlap instead of queuing. The store's
//! `get_batch` and the server's lookaheads (multi-key requests, pipelined requests) all
//! drive this one schedule.

use super::Store;
use super::hash::shard_of_hash;

/// Keys between the item stage and the key being served. About 2·D loads are then in
/// flight, within what a core tracks at once.
pub const AHEAD: usize = 8;
const RING: usize = 2 * AHEAD;

/// The hashes of the keys taken but not yet served, in serving order (key n in slot
/// n % 2·D), and which of them this shard owns.
pub struct Prefetch {
    ring: [u64; RING],
    /// Keys taken so far, and keys served so far.
    taken: usize,
    served: usize,
    shards: usize,
    me: usize,
}

impl Prefetch {
    /// Stands for "no key here" (a request without one): it holds its place in the schedule,
    /// and nothing is loaded for it.
    pub const NO_KEY: u64 = u64::MAX;

    /// A schedule for shard `me` of `shards`: keys other shards own are only queued, since
    /// their owner's batch loop prefetches them.
    pub fn new(shards: usize, me: usize) -> Self {
        Prefetch {
            ring: [Self::NO_KEY; RING],
            taken: 0,
            served: 0,
            shards,
            me,
        }
    }

    /// Whether the next key should be taken now (the bucket stage is less than 2·D ahead).
    #[inline]
    pub fn wants_more(&self) -> bool {
        self.taken < self.served + RING
    }

    /// Queues the next key by its hash (or [`Prefetch::NO_KEY`]) and starts loading its
    /// bucket. Keys must be taken in serving order, at most 2·D ahead of serving.
    #[inline(always)]
    pub fn take(&mut self, store: &Store, hash: u64) {
        debug_assert!(self.wants_more());
        self.ring[self.taken % RING] = hash;
        self.taken += 1;
        // A prefetch never faults, so `NO_KEY` need not be filtered out here (a wasted
        // prefetch instead of a compare on every key); the item stage, which loads, does.
        if shard_of_hash(hash, self.shards) == self.me {
            store.prefetch(hash);
        }
    }

    /// The item stage for the keys taken before serving starts.
    #[inline]
    pub fn start(&self, store: &Store) {
        for i in 0..AHEAD.min(self.taken) {
            self.item_stage(store, i);
        }
    }

    /// Moves on to serving the next key: starts the item load of the key D places on and
    /// returns the served key's hash as taken. Its slot is free for the next `take`. Serving
    /// past the keys taken (a pipeline whose next request could not be read ahead) is allowed
    /// and returns a stale hash, which such a caller ignores: checking for it would cost the
    /// batch loop instructions on every key.
    #[inline(always)]
    pub fn serve(&mut self, store: &Store) -> u64 {
        let i = self.served;
        self.served += 1;
        if i + AHEAD < self.taken {
            self.item_stage(store, i + AHEAD);
        }
        self.ring[i % RING]
    }

    #[inline(always)]
    fn item_stage(&self, store: &Store, i: usize) {
        let h = self.ring[i % RING];
        if self.mine(h) {
            store.prefetch_item(h);
        }
    }

    #[inline(always)]
    fn mine(&self, h: u64) -> bool {
        h != Self::NO_KEY && shard_of_hash(h, self.shards) == self.me
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreConfig;

    /// Takes `n` hashes the way the callers do (fill, start, then serve one and take one)
    /// and returns what serving saw.
    fn run(n: u64, shards: usize, me: usize) -> Vec<u64> {
        let s = Store::new(StoreConfig::default()).unwrap();
        let mut p = Prefetch::new(shards, me);
        let mut next = 0..n;
        while p.wants_more() {
            match next.next() {
                Some(h) => p.take(&s, h),
                None => break,
            }
        }
        p.start(&s);
        let mut out = vec![];
        for _ in 0..n {
            out.push(p.serve(&s));
            if let Some(h) = next.next() {
                assert!(p.wants_more());
                p.take(&s, h);
            }
        }
        out
    }

    #[test]
    fn serves_every_hash_in_order() {
        for n in [0, 1, AHEAD as u64, RING as u64, 100] {
            assert_eq!(run(n, 1, 0), (0..n).collect::<Vec<_>>());
            assert_eq!(run(n, 3, 1), (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn takes_at_most_two_d_ahead() {
        let s = Store::new(StoreConfig::default()).unwrap();
        let mut p = Prefetch::new(1, 0);
        for h in 0..RING as u64 {
            p.take(&s, h);
        }
        assert!(!p.wants_more());
        assert_eq!(p.taken - p.served, RING);
        assert_eq!(p.serve(&s), 0);
        assert!(p.wants_more());
        p.take(&s, Prefetch::NO_KEY);
        assert!(!p.wants_more());
        for h in 1..RING as u64 {
            assert_eq!(p.serve(&s), h);
        }
        assert_eq!(p.serve(&s), Prefetch::NO_KEY);
        // Past the keys taken: allowed, with a meaningless answer.
        p.serve(&s);
        assert!(p.wants_more());
    }
}
