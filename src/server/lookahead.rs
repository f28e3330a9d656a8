//! Prefetching for multi-key requests: a lookup costs two dependent cache misses (index
//! bucket, then item), so while key i is served, key i + 2·D's bucket and key i + D's item
//! are already being loaded and the misses of a long multi-get overlap instead of queuing.

use crate::storage::{Store, hash_key};

/// Keys between the item stage and the key being served; about 2·D loads in flight.
const D: usize = 8;

pub struct Lookahead<I> {
    keys: I,
    /// Hashes of the keys whose buckets were prefetched, in order; slot `n % 2D`.
    ring: [u64; 2 * D],
    /// Keys taken from `keys` so far, and keys served so far.
    taken: usize,
    served: usize,
    shards: u64,
    me: u64,
}

impl<'a, I: Iterator<Item = &'a [u8]>> Lookahead<I> {
    /// `keys` must yield the same keys, in the same order, as the caller will serve.
    pub fn new(keys: I, store: &Store, shards: usize, me: usize) -> Self {
        let mut la = Lookahead {
            keys,
            ring: [0; 2 * D],
            taken: 0,
            served: 0,
            shards: shards as u64,
            me: me as u64,
        };
        for _ in 0..2 * D {
            la.take(store);
        }
        for i in 0..D.min(la.taken) {
            la.item_stage(store, i);
        }
        la
    }

    /// Call once before serving each key.
    #[inline]
    pub fn step(&mut self, store: &Store) {
        let i = self.served;
        self.served += 1;
        self.take(store);
        if i + D < self.taken {
            self.item_stage(store, i + D);
        }
    }

    fn take(&mut self, store: &Store) {
        if let Some(k) = self.keys.next() {
            let h = hash_key(k);
            self.ring[self.taken % (2 * D)] = h;
            self.taken += 1;
            if self.mine(h) {
                store.prefetch(h);
            }
        }
    }

    fn item_stage(&self, store: &Store, i: usize) {
        let h = self.ring[i % (2 * D)];
        if self.mine(h) {
            store.prefetch_item(h);
        }
    }

    /// Keys other shards own are prefetched there, by the owner's batch loop.
    #[inline]
    fn mine(&self, h: u64) -> bool {
        self.shards == 1 || h % self.shards == self.me
    }
}
