//! Prefetching for requests that name many keys: a lookup costs two dependent cache misses
//! (index bucket, then item), so while key i is served, key i + 2·D's bucket and key i + D's
//! item are already being loaded and the misses overlap instead of queuing. Two front ends
//! share the schedule: [`Lookahead`] over the keys of one multi-key request or batch, and
//! [`PipelineAhead`] over the requests queued in a connection's read buffer.

use crate::protocol::peek::peek_request;
use crate::storage::{Store, hash_key, shard_of_hash};

/// Keys between the item stage and the key being served; about 2·D loads in flight.
const D: usize = 8;
/// Stands for "no key here" (a request without one) in the schedule.
const NO_KEY: u64 = u64::MAX;

/// Hashes of the keys whose buckets are loading, in serving order; slot `n % 2D`.
struct Schedule {
    ring: [u64; 2 * D],
    /// Keys taken so far, and keys served so far.
    taken: usize,
    served: usize,
    shards: usize,
    me: usize,
}

impl Schedule {
    fn new(shards: usize, me: usize) -> Self {
        Schedule {
            ring: [NO_KEY; 2 * D],
            taken: 0,
            served: 0,
            shards,
            me,
        }
    }

    fn wants_more(&self) -> bool {
        self.taken < self.served + 2 * D
    }

    /// Queues the next key (or `NO_KEY`) and starts loading its bucket.
    fn take(&mut self, store: &Store, h: u64) {
        self.ring[self.taken % (2 * D)] = h;
        self.taken += 1;
        if self.mine(h) {
            store.prefetch(h);
        }
    }

    /// The item stage for the keys taken before serving starts.
    fn start(&self, store: &Store) {
        for i in 0..D.min(self.taken) {
            self.item_stage(store, i);
        }
    }

    /// Advances past one served key, starting the item load of the key D places on.
    fn serve(&mut self, store: &Store) {
        let i = self.served;
        self.served += 1;
        if i + D < self.taken {
            self.item_stage(store, i + D);
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
        h != NO_KEY && shard_of_hash(h, self.shards) == self.me
    }
}

/// The schedule over the keys of one request or batch, taken from an iterator.
pub struct Lookahead<I> {
    keys: I,
    sched: Schedule,
}

impl<'a, I: Iterator<Item = &'a [u8]>> Lookahead<I> {
    /// `keys` must yield the same keys, in the same order, as the caller will serve.
    pub fn new(keys: I, store: &Store, shards: usize, me: usize) -> Self {
        let mut la = Lookahead {
            keys,
            sched: Schedule::new(shards, me),
        };
        for _ in 0..2 * D {
            la.take(store);
        }
        la.sched.start(store);
        la
    }

    /// Call once before serving each key.
    #[inline]
    pub fn step(&mut self, store: &Store) {
        self.take(store);
        self.sched.serve(store);
    }

    fn take(&mut self, store: &Store) {
        if let Some(k) = self.keys.next() {
            self.sched.take(store, hash_key(k));
        }
    }
}

/// The schedule over pipelined requests: it peeks at the requests after the one being
/// served (one key each, the first of a multi-get) in a buffer that does not move meanwhile.
pub struct PipelineAhead {
    sched: Schedule,
    /// Where the next request to peek at starts in the buffer; `None` once the rest of the
    /// buffer cannot be walked (incomplete or unknown request).
    pos: Option<usize>,
}

impl PipelineAhead {
    /// Starts on `buf`, whose request at offset `next` is the first to be served after the
    /// current one.
    pub fn new(buf: &[u8], next: usize, store: &Store, shards: usize, me: usize) -> Self {
        let mut pa = PipelineAhead {
            sched: Schedule::new(shards, me),
            pos: Some(next),
        };
        pa.top_up(buf, store);
        pa.sched.start(store);
        pa
    }

    /// Call once before serving each request after the one `new` was made during; `buf` is
    /// the same buffer, unmoved: positions in it are remembered between calls.
    #[inline]
    pub fn step(&mut self, buf: &[u8], store: &Store) {
        debug_assert!(self.pos.is_none_or(|p| p <= buf.len()));
        // Serving first frees the slot the next peek fills, keeping buckets 2·D ahead.
        self.sched.serve(store);
        self.top_up(buf, store);
    }

    fn top_up(&mut self, buf: &[u8], store: &Store) {
        while self.sched.wants_more() {
            let Some(pos) = self.pos else { return };
            match buf.get(pos..).and_then(peek_request) {
                Some((key, len)) => {
                    self.sched.take(store, key.map_or(NO_KEY, hash_key));
                    self.pos = Some(pos + len);
                }
                None => self.pos = None,
            }
        }
    }
}
