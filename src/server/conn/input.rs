//! A connection's read buffer: requests are parsed in place between `start` and `end`.
//! A connection with nothing buffered holds no buffer: it takes one from its shard's pool
//! (`pool.rs`) only for the poll that finds bytes to read, and gives it back when a read
//! finds none
//! (memcached likewise returns an idle connection's read buffer to a per-thread cache).
//! Past its working size the buffer grows only with bytes that arrived (doubling when full,
//! so a `set` header for a big value costs what was sent, not what it announced), and a
//! connection waiting in the middle of a request keeps its bytes in a buffer sized to them.

use crate::server::pool;
use futures_lite::{AsyncRead, AsyncReadExt, future};
use std::pin::Pin;
use std::task::Poll;

/// A multi-get line may be long (memcached allows it); past this it is abuse.
const MAX_LINE_BUF: usize = 64 << 20;
/// The working read size: a pipelining client's burst, or a large request, in one read.
pub const BUF: usize = 16 << 10;
/// A connection waiting for the rest of a request keeps at most twice its bytes, or this.
const SMALL: usize = 512;

fn take() -> Vec<u8> {
    pool::take_read(BUF)
}

fn give(buf: Vec<u8>) {
    pool::give_read(buf, BUF);
}

pub struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of a refused value still to discard as they arrive.
    swallow: usize,
    /// The working size (BUF, except in unit tests); buffers of that size come from the pool.
    size: usize,
    /// Length of the request at `start` once its header said so (a storage command whose
    /// data is still arriving): the buffer may grow to it, past MAX_LINE_BUF.
    want: usize,
}

impl Input {
    pub fn new(size: usize) -> Self {
        Input {
            buf: Vec::new(),
            start: 0,
            end: 0,
            swallow: 0,
            size,
            want: 0,
        }
    }

    fn fresh(&self) -> Vec<u8> {
        if self.size == BUF {
            take()
        } else {
            vec![0; self.size]
        }
    }

    /// The bytes received and not yet consumed.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The whole buffer up to the end of what was received, and where pending bytes start
    /// in it (the pipeline prefetch looks at requests beyond the current one).
    pub fn window(&self) -> (&[u8], usize) {
        (&self.buf[..self.end], self.start)
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        self.want = 0;
    }

    /// Reads more bytes; returns how many, 0 at end of stream or when a request has
    /// outgrown the buffer limit. A read that finds nothing means the connection is idle:
    /// `idle` runs and the connection waits without a buffer (or with one sized to the
    /// part of a request it holds).
    pub async fn read_from<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        idle: impl FnOnce(),
    ) -> std::io::Result<usize> {
        if !self.make_room() {
            return Ok(0);
        }
        let n = if self.start == self.end {
            self.read_idle(r, idle).await?
        } else {
            match future::poll_once(r.read(&mut self.buf[self.end..])).await {
                Some(n) => n?,
                None => {
                    self.fit_pending();
                    idle();
                    r.read(&mut self.buf[self.end..]).await?
                }
            }
        };
        self.received(n);
        Ok(n)
    }

    /// Reads with nothing pending. The first poll reads into the buffer `make_room` readied;
    /// once a poll finds nothing the connection is idle: `idle` runs, and each later poll
    /// takes a buffer from the pool and gives it back unless it found bytes. One poll per
    /// wakeup: polling once to learn that nothing is there and again to wait without a
    /// buffer cost a socket poll and a pool round trip (about 290 instructions per request,
    /// `CC_ARGS="--tick-hold-us 0" bash benches/instructions.sh corecached 1 3000`).
    async fn read_idle<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        idle: impl FnOnce(),
    ) -> std::io::Result<usize> {
        let mut idle = Some(idle);
        future::poll_fn(|cx| {
            if self.buf.is_empty() {
                self.buf = self.fresh();
            }
            match Pin::new(&mut *r).poll_read(cx, &mut self.buf) {
                Poll::Pending => {
                    give(std::mem::take(&mut self.buf));
                    if let Some(idle) = idle.take() {
                        idle();
                    }
                    Poll::Pending
                }
                ready => ready,
            }
        })
        .await
    }

    /// Moves a part of a request that waits for more bytes out of a working buffer much
    /// larger than it, so a connection that stops mid-request costs what it sent.
    fn fit_pending(&mut self) {
        let keep = (2 * (self.end - self.start)).max(SMALL);
        if self.buf.len() > keep {
            let mut small = vec![0; keep];
            small[..self.end - self.start].copy_from_slice(self.pending());
            self.end -= self.start;
            self.start = 0;
            give(std::mem::replace(&mut self.buf, small));
        }
    }

    /// Frees space at the end of the buffer; false when a request is too long to hold.
    fn make_room(&mut self) -> bool {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            // A buffer grown for one huge value or multi-get, or a small one kept for part
            // of a request, goes; the next read uses a working buffer.
            if self.buf.len() != self.size {
                self.buf = self.fresh();
            }
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.compact();
            } else {
                let limit = MAX_LINE_BUF.max(self.want);
                if self.buf.len() >= limit {
                    return false;
                }
                // Doubling keeps the buffer within twice what has arrived.
                let len = (self.buf.len() * 2).min(limit);
                self.buf.resize(len, 0);
            }
        }
        true
    }

    fn received(&mut self, n: usize) {
        self.end += n;
        if self.swallow > 0 {
            let s = self.swallow.min(self.end - self.start);
            self.start += s;
            self.swallow -= s;
        }
    }

    fn compact(&mut self) {
        // `expect` runs on every read of a value still arriving: no copy when in place.
        if self.start == 0 {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// The request at the pending bytes is `total` bytes long (its data is still on the
    /// way): move it to the front, and let the buffer grow to it as the data arrives.
    pub fn expect(&mut self, total: usize) {
        self.compact();
        self.want = total;
    }

    /// Drops a request of `total` bytes: what is here now, and the rest as it arrives.
    pub fn skip(&mut self, total: usize) {
        let avail = self.end - self.start;
        self.start += total.min(avail);
        self.swallow = total.saturating_sub(avail);
        self.want = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(initial: usize, bytes: &[u8]) -> Input {
        let mut i = Input::new(initial);
        assert!(i.make_room());
        i.buf[..bytes.len()].copy_from_slice(bytes);
        i.received(bytes.len());
        i
    }

    #[test]
    fn consumed_bytes_leave_and_the_rest_moves_to_the_front() {
        let mut i = fed(8, b"abcdefgh");
        i.consume(6);
        assert_eq!(i.pending(), b"gh");
        assert!(i.make_room());
        assert_eq!(i.window(), (&b"gh"[..], 0));
    }

    #[test]
    fn a_full_buffer_doubles_for_one_long_request() {
        let mut i = fed(8, b"abcdefgh");
        assert!(i.make_room());
        assert_eq!(i.buf.len(), 16);
        assert_eq!(i.pending(), b"abcdefgh");
    }

    #[test]
    fn an_announced_value_grows_the_buffer_only_as_it_arrives() {
        let mut i = fed(32, b"set k 0 0 1000000\r\n");
        i.expect(1_000_019);
        for _ in 0..3 {
            assert!(i.make_room());
            let n = i.buf.len() - i.end;
            i.received(n);
        }
        // Three full reads, each doubling: never past twice what arrived.
        assert!(i.buf.len() <= 2 * i.end, "{} for {}", i.buf.len(), i.end);
        assert!(i.buf.len() < 1000, "{}", i.buf.len());
    }

    #[test]
    fn an_announced_value_may_pass_the_line_limit() {
        let mut i = Input::new(MAX_LINE_BUF);
        assert!(i.make_room());
        i.received(MAX_LINE_BUF);
        assert!(!i.make_room());
        i.expect(MAX_LINE_BUF + 10);
        assert!(i.make_room());
        assert_eq!(i.buf.len(), MAX_LINE_BUF + 10);
    }

    #[test]
    fn a_grown_buffer_goes_back_to_the_working_size_when_drained() {
        let mut i = fed(4, b"abcd");
        i.expect(256);
        while i.end < 256 {
            assert!(i.make_room());
            let n = i.buf.len() - i.end;
            i.received(n);
        }
        i.consume(256);
        assert!(i.make_room());
        assert_eq!(i.buf.len(), 4);
    }

    #[test]
    fn a_connection_stopped_mid_request_keeps_a_buffer_sized_to_it() {
        let mut i = fed(4096, b"set k 0 0 1000000\r\n");
        i.fit_pending();
        assert_eq!(i.buf.len(), SMALL);
        assert_eq!(i.pending(), b"set k 0 0 1000000\r\n");
        let mut j = fed(4096, &[b'x'; 3000]);
        j.fit_pending();
        assert_eq!(j.buf.len(), 4096, "a buffer under twice its bytes stays");
    }

    #[test]
    fn working_buffers_are_shared_through_the_pool() {
        let mut i = Input::new(BUF);
        assert!(i.make_room());
        let first = i.buf.as_ptr();
        give(std::mem::take(&mut i.buf));
        let mut j = Input::new(BUF);
        assert!(j.make_room());
        assert_eq!(
            j.buf.as_ptr(),
            first,
            "the buffer one gave back is the next one taken"
        );
        give(vec![0; 100]);
        assert_eq!(take().len(), BUF, "only working buffers are pooled");
    }

    /// Finds nothing on its first `pending` polls, then `bytes`.
    struct Late {
        pending: usize,
        bytes: &'static [u8],
    }

    impl AsyncRead for Late {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> Poll<std::io::Result<usize>> {
            if self.pending > 0 {
                self.pending -= 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            buf[..self.bytes.len()].copy_from_slice(self.bytes);
            Poll::Ready(Ok(self.bytes.len()))
        }
    }

    #[test]
    fn idle_runs_once_per_wait_and_only_when_nothing_is_there() {
        for pending in [0, 1, 3] {
            let mut i = Input::new(BUF);
            let mut r = Late {
                pending,
                bytes: b"get k\r\n",
            };
            let mut idles = 0;
            let n = future::block_on(i.read_from(&mut r, || idles += 1)).unwrap();
            assert_eq!((n, i.pending()), (7, &b"get k\r\n"[..]));
            assert_eq!(
                idles,
                usize::from(pending > 0),
                "{pending} polls found nothing"
            );
        }
    }

    #[test]
    fn a_skipped_value_is_swallowed_as_it_arrives() {
        let mut i = fed(16, b"0123");
        i.skip(10);
        assert_eq!(i.pending(), b"");
        assert!(i.make_room());
        let more = b"456789get\r\n";
        i.buf[i.end..i.end + more.len()].copy_from_slice(more);
        i.received(more.len());
        assert_eq!(i.pending(), b"get\r\n");
    }
}
