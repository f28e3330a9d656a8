//! memcached's `watch`: the node's watchers and the bounded queue each one is fed through.
//! Events happen on every shard; each shard formats its own (`sink.rs`) and offers the
//! lines to the queues of the watchers that asked for their kind. A watcher's connection
//! lives on one shard and drains its queue to the socket (`server/conn/watch.rs`); when it
//! falls behind, lines are dropped and counted, and it is told `skipped=N` in their place
//! as soon as its queue has drained (or before the next line that fits, whichever is first).
//!
//! The connection waits on its queue through a plain `Waker`: glommio wakes a task from
//! another shard's thread through that executor's own foreign-wake queue and eventfd, so a
//! shard that queues a line wakes the watcher's shard with no socket of ours in between.
//! The waker is left and taken under the queue's lock, so no line can arrive unseen.

pub mod sink;

pub use sink::Sink;

use crate::protocol::text::watch::{self as fmt, MAX_WATCHERS};
use crate::stats::LogStats;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Room memcached keeps free beside a line (for the `skipped=N` line before it).
const SKIP_ROOM: usize = 128;

/// Every watcher of the node. With none, `kinds` is 0 and an event costs one relaxed load.
#[derive(Default)]
pub struct Watchers {
    /// The kinds some watcher asked for (the union of theirs).
    kinds: AtomicU32,
    /// memcached's log gid: one sequence over every event of the node.
    gid: AtomicU64,
    list: Mutex<Vec<Arc<Watcher>>>,
    /// `stats`: log_worker_written, log_watcher_sent, log_watcher_skipped.
    pub written: AtomicU64,
    pub sent: AtomicU64,
    pub skipped: AtomicU64,
}

/// A watcher was not added: memcached's `WATCHER_TOO_MANY`.
#[derive(Debug)]
pub struct TooMany;

impl Watchers {
    /// The kinds some watcher wants; 0 when nobody watches.
    #[inline]
    pub fn kinds(&self) -> u32 {
        self.kinds.load(Ordering::Relaxed)
    }

    pub fn next_gid(&self) -> u64 {
        self.gid.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The log_* lines of `stats`.
    pub fn stats(&self) -> LogStats {
        LogStats {
            worker_written: self.written.load(Ordering::Relaxed),
            watcher_sent: self.sent.load(Ordering::Relaxed),
            watcher_skipped: self.skipped.load(Ordering::Relaxed),
            watchers: self.count() as u64,
        }
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Watcher>>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a watcher of `kinds` whose queue holds at most `limit` bytes; it sees events
    /// from now on; its queue starts with the `OK` that answers the command.
    pub fn add(&self, kinds: u32, limit: usize) -> Result<Arc<Watcher>, TooMany> {
        let mut list = self.lock();
        if list.len() >= MAX_WATCHERS {
            return Err(TooMany);
        }
        let w = Arc::new(Watcher {
            kinds,
            min_gid: self.next_gid(),
            limit: limit.max(SKIP_ROOM * 2),
            queue: Mutex::new(Queue {
                bytes: b"OK\r\n".to_vec(),
                skipped: 0,
                waiting: None,
            }),
        });
        list.push(w.clone());
        self.kinds.fetch_or(kinds, Ordering::Relaxed);
        Ok(w)
    }

    pub fn remove(&self, w: &Arc<Watcher>) {
        let mut list = self.lock();
        list.retain(|x| !Arc::ptr_eq(x, w));
        let kinds = list.iter().fold(0, |k, x| k | x.kinds);
        self.kinds.store(kinds, Ordering::Relaxed);
    }

    /// Offers staged lines to every watcher: `lines` holds them back to back, `entries`
    /// each one's kind, gid and end offset.
    pub fn deliver(&self, lines: &[u8], entries: &[(u32, u64, usize)]) {
        let list = self.lock();
        for w in list.iter() {
            let (sent, skipped) = w.offer(lines, entries);
            self.sent.fetch_add(sent, Ordering::Relaxed);
            self.skipped.fetch_add(skipped, Ordering::Relaxed);
        }
    }
}

/// One watcher: what it asked for and its queue of lines not yet written to it.
pub struct Watcher {
    kinds: u32,
    /// Events from before the watcher existed are not its.
    min_gid: u64,
    /// watcher_logbuf_size: the most its queue holds.
    limit: usize,
    queue: Mutex<Queue>,
}

struct Queue {
    bytes: Vec<u8>,
    /// Lines dropped since the last one that fitted.
    skipped: u64,
    /// The connection found nothing to write and waits to be woken by the next line.
    waiting: Option<Waker>,
}

impl Watcher {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues the lines this watcher wants; a line that does not fit is dropped and
    /// counted. Returns (lines queued, lines dropped).
    fn offer(&self, lines: &[u8], entries: &[(u32, u64, usize)]) -> (u64, u64) {
        let (mut sent, mut skipped) = (0, 0);
        let mut q = self.lock();
        let mut start = 0;
        for &(kind, gid, end) in entries {
            let line = &lines[start..end];
            start = end;
            if kind & self.kinds == 0 || gid < self.min_gid {
                continue;
            }
            if q.bytes.len() + line.len() + SKIP_ROOM > self.limit {
                q.skipped += 1;
                skipped += 1;
                continue;
            }
            if q.skipped > 0 {
                let n = std::mem::take(&mut q.skipped);
                fmt::skipped(&mut q.bytes, n);
            }
            q.bytes.extend_from_slice(line);
            sent += 1;
        }
        // Skips alone wake it too: what it has to write then is the `skipped=N`.
        let waiting = match sent + skipped {
            0 => None,
            _ => q.waiting.take(),
        };
        drop(q);
        if let Some(waker) = waiting {
            waker.wake();
        }
        (sent, skipped)
    }

    /// Moves what the connection has to write into `out` (empty): the queued lines, then
    /// `skipped=N` for the lines dropped after them. With nothing, leaves `cx`'s waker for
    /// the next line queued.
    pub fn poll_take(&self, out: &mut Vec<u8>, cx: &Context<'_>) -> Poll<()> {
        let mut q = self.lock();
        if q.bytes.is_empty() && q.skipped == 0 {
            match &mut q.waiting {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        std::mem::swap(&mut q.bytes, out);
        if q.skipped > 0 {
            fmt::skipped(out, std::mem::take(&mut q.skipped));
        }
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests;
