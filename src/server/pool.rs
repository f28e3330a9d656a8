//! Per-shard pools of working buffers: a connection takes a read buffer and an output
//! buffer while it has bytes to handle and gives them back when it goes idle, and the
//! messages between shards take their buffers from the pool of the shard that fills them
//! and give them to the pool of the shard that empties them. So idle connections hold
//! none, and neither busy connections nor hops allocate per request (memcached keeps such
//! per-thread caches too).

use std::cell::RefCell;
use std::thread::LocalKey;

/// Buffers of one kind a shard keeps: enough for the connections handling bytes at the
/// same moment; more are freed.
const KEEP: usize = 16;

/// Message buffers a shard keeps, and the largest it keeps: a hop's batch and reply are
/// a few hundred bytes at depth 1 and a few KB pipelined; bigger ones (a multiget of large
/// values, a twin's writes) are rare and are freed, so a shard holds at most 256 KB here.
const MSG_KEEP: usize = 64;
const MSG_MAX: usize = 4096;

/// What a message buffer starts with when the pool has none: room for a few ops, so
/// that it does not grow by doubling from 8 bytes.
const MSG_START: usize = 256;

type Pool<T> = LocalKey<RefCell<Vec<Vec<T>>>>;

thread_local! {
    static READ: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static OUT: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static MSG: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static ENDS: RefCell<Vec<Vec<u32>>> = const { RefCell::new(Vec::new()) };
}

/// A zeroed read buffer of `len` bytes from this shard's pool, or a new one.
pub fn take_read(len: usize) -> Vec<u8> {
    READ.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| vec![0; len])
}

/// Hands back a read buffer of the working length `len` (others are freed).
pub fn give_read(buf: Vec<u8>, len: usize) {
    if buf.len() == len {
        keep(&READ, buf, KEEP);
    }
}

/// An empty output buffer with room for `cap` bytes from this shard's pool, or a new one.
pub fn take_out(cap: usize) -> Vec<u8> {
    OUT.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(cap))
}

/// Hands back an output buffer; one grown past `max` bytes is freed instead.
pub fn give_out(buf: Vec<u8>, max: usize) {
    give(&OUT, buf, max, KEEP);
}

/// An empty buffer for a message to another shard (a batch's ops, a reply's outcomes).
pub fn take_msg() -> Vec<u8> {
    MSG.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(MSG_START))
}

/// Hands back a message buffer this shard has read.
pub fn give_msg(buf: Vec<u8>) {
    give(&MSG, buf, MSG_MAX, MSG_KEEP);
}

/// An empty list of a reply's outcome ends, with room for `n`.
pub fn take_ends(n: usize) -> Vec<u32> {
    let mut v = ENDS.with(|p| p.borrow_mut().pop()).unwrap_or_default();
    v.reserve(n);
    v
}

/// Hands back a reply's outcome ends.
pub fn give_ends(buf: Vec<u32>) {
    give(&ENDS, buf, MSG_MAX / 4, MSG_KEEP);
}

/// Spare lists of one kind, for a shard's messages to other shards (the batches of a
/// request, the replies to one): a list goes to the owner full and is kept there, emptied,
/// for that shard's own next message; at most [`KEEP`] lists of at most [`LIST_MAX`].
pub struct Lists<T>(RefCell<Vec<Vec<T>>>);

/// The longest list [`Lists`] keeps: a turn of the loop with more connections waiting on
/// one shard than this is rare, and its list is freed.
const LIST_MAX: usize = 256;

impl<T> Default for Lists<T> {
    fn default() -> Self {
        Lists(RefCell::new(Vec::new()))
    }
}

impl<T> Lists<T> {
    /// An empty list, kept or new.
    pub fn take(&self) -> Vec<T> {
        self.0.borrow_mut().pop().unwrap_or_default()
    }

    /// Keeps `list`, emptied (its items are dropped here).
    pub fn give(&self, mut list: Vec<T>) {
        list.clear();
        let mut lists = self.0.borrow_mut();
        if list.capacity() > 0 && list.capacity() <= LIST_MAX && lists.len() < KEEP {
            lists.push(list);
        }
    }
}

fn give<T>(pool: &'static Pool<T>, mut buf: Vec<T>, max: usize, most: usize) {
    if buf.capacity() > 0 && buf.capacity() <= max {
        buf.clear();
        keep(pool, buf, most);
    }
}

fn keep<T>(pool: &'static Pool<T>, buf: Vec<T>, most: usize) {
    pool.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < most {
            p.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_buffers_come_back_empty_and_big_ones_are_freed() {
        let mut b = take_msg();
        b.extend_from_slice(b"get k\r\n");
        let at = b.as_ptr();
        give_msg(b);
        let again = take_msg();
        assert_eq!((again.as_ptr(), again.len()), (at, 0));
        give_msg(Vec::with_capacity(MSG_MAX + 1));
        give_msg(again);
        let last = take_msg();
        assert_eq!(last.as_ptr(), at, "the oversized buffer was not kept");
    }

    #[test]
    fn lists_come_back_empty_and_long_ones_are_freed() {
        let lists = Lists::default();
        let mut l = lists.take();
        l.extend([1u64, 2, 3]);
        let at = l.as_ptr();
        lists.give(l);
        lists.give(Vec::with_capacity(LIST_MAX + 1));
        let again = lists.take();
        assert_eq!((again.as_ptr(), again.len()), (at, 0));
        assert_eq!(lists.take().capacity(), 0, "the long list was not kept");
    }

    #[test]
    fn a_shard_keeps_a_bounded_number_of_message_buffers() {
        for _ in 0..MSG_KEEP + 10 {
            give_ends(Vec::with_capacity(4));
        }
        assert_eq!(ENDS.with(|p| p.borrow().len()), MSG_KEEP);
    }
}
