//! Prefetching for requests that name many keys, with the store's one schedule
//! (`storage::Prefetch`) fed from two sources: [`Lookahead`] over the keys of one multi-key
//! request or batch, and [`PipelineAhead`] over the requests queued in a connection's read
//! buffer.

use crate::protocol::peek::peek_request;
use crate::storage::{Prefetch, Store, hash_key};
use std::cell::Cell;

thread_local! {
    /// This shard's spare box for a text connection's [`PipelineAhead`]: every pipelined
    /// read needs one, and only while it is being handled, so one per shard saves an
    /// allocation per read without idle connections holding any.
    static SPARE: Cell<Option<Box<PipelineAhead>>> = const { Cell::new(None) };
}

/// The schedule over the keys of one request or batch, taken from an iterator.
pub struct Lookahead<I> {
    keys: I,
    sched: Prefetch,
}

/// What the schedule takes per key: the key itself, or its `hash_key` when the caller has
/// it already (a twin's writes are hashed once, to route them).
pub trait KeyHash {
    fn key_hash(self) -> u64;
}

impl KeyHash for &[u8] {
    #[inline]
    fn key_hash(self) -> u64 {
        hash_key(self)
    }
}

impl KeyHash for u64 {
    #[inline]
    fn key_hash(self) -> u64 {
        self
    }
}

impl<I: Iterator<Item: KeyHash>> Lookahead<I> {
    /// `keys` must yield the same keys, in the same order, as the caller will serve.
    pub fn new(keys: I, store: &Store, shards: usize, me: usize) -> Self {
        let mut la = Lookahead {
            keys,
            sched: Prefetch::new(shards, me),
        };
        while la.sched.wants_more() && la.take(store) {}
        la.sched.start(store);
        la
    }

    /// Call once before serving each key.
    #[inline]
    pub fn step(&mut self, store: &Store) {
        self.sched.serve(store);
        self.take(store);
    }

    /// Takes the next key, if there is one.
    fn take(&mut self, store: &Store) -> bool {
        let Some(k) = self.keys.next() else {
            return false;
        };
        self.sched.take(store, k.key_hash());
        true
    }
}

/// A protocol's peek: the key (if any) and length of the request at the start of a buffer,
/// `None` where the walk must stop.
pub type Peek = fn(&[u8]) -> Option<(Option<&[u8]>, usize)>;

/// The schedule over pipelined requests: it peeks at the requests after the one being
/// served (one key each, the first of a multi-get) in a buffer that does not move meanwhile.
pub struct PipelineAhead {
    sched: Prefetch,
    /// Where the next request to peek at starts in the buffer; `None` once the rest of the
    /// buffer cannot be walked (incomplete or unknown request).
    pos: Option<usize>,
    peek: Peek,
}

impl PipelineAhead {
    /// Starts on `buf`, whose request at offset `next` is the first to be served after the
    /// current one.
    pub fn new(buf: &[u8], next: usize, store: &Store, shards: usize, me: usize) -> Self {
        Self::with_peek(buf, next, store, (shards, me), peek_request)
    }

    /// `new`, boxed: in the shard's spare box if it has one. Give it back with
    /// [`PipelineAhead::give_back`] once the read is handled.
    pub fn boxed(buf: &[u8], next: usize, store: &Store, shards: usize, me: usize) -> Box<Self> {
        let ahead = Self::new(buf, next, store, shards, me);
        match SPARE.take() {
            Some(mut spare) => {
                *spare = ahead;
                spare
            }
            None => Box::new(ahead),
        }
    }

    /// Keeps `b` as the shard's spare box for the next read's [`PipelineAhead::boxed`].
    pub fn give_back(b: Box<Self>) {
        // A connection dropped as its thread ends may find the spare gone: it is freed.
        let _ = SPARE.try_with(|spare| spare.set(Some(b)));
    }

    /// `new` for a protocol whose requests `peek` walks (the binary one).
    pub fn with_peek(
        buf: &[u8],
        next: usize,
        store: &Store,
        (shards, me): (usize, usize),
        peek: Peek,
    ) -> Self {
        let mut pa = PipelineAhead {
            sched: Prefetch::new(shards, me),
            pos: Some(next),
            peek,
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
            match buf.get(pos..).and_then(self.peek) {
                Some((key, len)) => {
                    self.sched
                        .take(store, key.map_or(Prefetch::NO_KEY, hash_key));
                    self.pos = Some(pos + len);
                }
                None => self.pos = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreConfig;

    #[test]
    fn a_read_takes_back_the_box_the_last_read_gave_back() {
        let store = Store::new(StoreConfig::default()).unwrap();
        let buf = b"get a\r\nget b\r\nget c\r\n";
        let first = PipelineAhead::boxed(buf, 7, &store, 1, 0);
        let at: *const PipelineAhead = &*first;
        PipelineAhead::give_back(first);
        let again = PipelineAhead::boxed(buf, 14, &store, 1, 0);
        assert_eq!(&*again as *const PipelineAhead, at);
        // With the spare taken, a second box at once is a new one.
        let other = PipelineAhead::boxed(buf, 7, &store, 1, 0);
        assert_ne!(&*other as *const PipelineAhead, at);
    }
}
