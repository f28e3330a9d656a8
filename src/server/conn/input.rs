//! A connection's read buffer: requests are parsed in place between `start` and `end`. It
//! grows only with bytes that arrived (doubling while reads fill it, so a `set` header for
//! a big value costs what was sent, not what it announced), and while the connection
//! waits with nothing buffered it holds no buffer at all: the first bytes of the next
//! request land in a small array inside the connection (memcached likewise gives its read
//! buffer back when a connection goes idle).

use futures_lite::{AsyncRead, AsyncReadExt, future};

/// A multi-get line may be long (memcached allows it); past this it is abuse.
const MAX_LINE_BUF: usize = 64 << 20;
/// A buffer that kept filling grows up to this for a pipelining client; more is only for
/// one request that needs it.
const BUSY_BUF: usize = 16 << 10;
/// Where an idle connection's next bytes arrive: a whole small request (a get, a short
/// set) fits, so waking costs no second read.
const WAKE: usize = 64;

pub struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of a refused value still to discard as they arrive.
    swallow: usize,
    initial: usize,
    /// Length of the request at `start` once its header said so (a storage command whose
    /// data is still arriving): the buffer may grow to it, past MAX_LINE_BUF.
    want: usize,
    wake: [u8; WAKE],
}

impl Input {
    pub fn new(initial: usize) -> Self {
        Input {
            buf: vec![0; initial],
            start: 0,
            end: 0,
            swallow: 0,
            initial,
            want: 0,
            wake: [0; WAKE],
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
    /// outgrown the buffer limit. When nothing is buffered and nothing has arrived, the
    /// connection is idle: its buffer is given back and `idle` runs before waiting.
    pub async fn read_from<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        idle: impl FnOnce(),
    ) -> std::io::Result<usize> {
        if !self.make_room() {
            return Ok(0);
        }
        let space = self.buf.len() - self.end;
        let n = match future::poll_once(r.read(&mut self.buf[self.end..])).await {
            Some(n) => n?,
            None if self.start == self.end => {
                idle();
                return self.wake_up(r).await;
            }
            None => {
                idle();
                r.read(&mut self.buf[self.end..]).await?
            }
        };
        self.received(n);
        if n == space && self.want == 0 && self.buf.len() < BUSY_BUF {
            // The read filled the buffer: more is probably waiting; read more at a time.
            let len = self.buf.len() * 2;
            self.buf.resize(len, 0);
        }
        Ok(n)
    }

    /// Waits without a buffer for the next bytes, then takes a buffer for them (and for
    /// whatever else is ready when they filled the wake array).
    async fn wake_up<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> std::io::Result<usize> {
        self.release();
        let n = r.read(&mut self.wake).await?;
        if n == 0 {
            return Ok(0);
        }
        self.buf = vec![0; self.initial.max(2 * WAKE)];
        self.buf[..n].copy_from_slice(&self.wake[..n]);
        let mut got = n;
        if n == WAKE
            && let Some(more) = future::poll_once(r.read(&mut self.buf[n..])).await
        {
            got += more?;
        }
        self.received(got);
        Ok(got)
    }

    /// Gives the buffer back while nothing is in it.
    fn release(&mut self) {
        debug_assert_eq!(self.start, self.end);
        self.start = 0;
        self.end = 0;
        self.buf = Vec::new();
    }

    /// Frees space at the end of the buffer; false when a request is too long to hold.
    fn make_room(&mut self) -> bool {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            // Give back a buffer grown for one huge value or multi-get.
            if self.buf.len() > BUSY_BUF.max(self.initial) || self.buf.is_empty() {
                self.buf = vec![0; self.initial];
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
        i.received(MAX_LINE_BUF);
        assert!(!i.make_room());
        i.expect(MAX_LINE_BUF + 10);
        assert!(i.make_room());
        assert_eq!(i.buf.len(), MAX_LINE_BUF + 10);
    }

    #[test]
    fn a_grown_buffer_shrinks_back_when_drained_or_idle() {
        let mut i = fed(4, b"abcd");
        i.expect(BUSY_BUF * 4);
        while i.end < BUSY_BUF * 4 {
            assert!(i.make_room());
            let n = i.buf.len() - i.end;
            i.received(n);
        }
        i.consume(BUSY_BUF * 4);
        assert!(i.make_room());
        assert_eq!(i.buf.len(), 4);
        let mut j = fed(4, b"abcd");
        j.consume(4);
        assert!(j.make_room());
        j.release();
        assert_eq!(j.buf.capacity(), 0);
        assert!(j.make_room());
        assert_eq!(j.buf.len(), 4);
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
