//! Per-shard pools of working buffers: a connection takes a read buffer and an output
//! buffer while it has bytes to handle and gives them back when it goes idle, so idle
//! connections hold none and busy ones do not allocate per request (memcached keeps such
//! per-thread caches too).

use std::cell::RefCell;

/// Buffers of one kind a shard keeps: enough for the connections handling bytes at the
/// same moment; more are freed.
const KEEP: usize = 16;

thread_local! {
    static READ: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static OUT: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A zeroed read buffer of `len` bytes from this shard's pool, or a new one.
pub fn take_read(len: usize) -> Vec<u8> {
    READ.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| vec![0; len])
}

/// Hands back a read buffer of the working length `len` (others are freed).
pub fn give_read(buf: Vec<u8>, len: usize) {
    if buf.len() == len {
        keep(&READ, buf);
    }
}

/// An empty output buffer with room for `cap` bytes from this shard's pool, or a new one.
pub fn take_out(cap: usize) -> Vec<u8> {
    OUT.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(cap))
}

/// Hands back an output buffer; one grown past `max` bytes is freed instead.
pub fn give_out(mut buf: Vec<u8>, max: usize) {
    if buf.capacity() > 0 && buf.capacity() <= max {
        buf.clear();
        keep(&OUT, buf);
    }
}

fn keep(pool: &'static std::thread::LocalKey<RefCell<Vec<Vec<u8>>>>, buf: Vec<u8>) {
    pool.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < KEEP {
            p.push(buf);
        }
    });
}
