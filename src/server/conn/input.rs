//! A connection's read buffer: requests are parsed in place between `start` and `end`; the
//! buffer grows for one long request and shrinks back once it is consumed.

use futures_lite::{AsyncRead, AsyncReadExt};

/// A multi-get line may be long (memcached allows it); past this it is abuse.
const MAX_LINE_BUF: usize = 64 << 20;

pub struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of a refused value still to discard as they arrive.
    swallow: usize,
    initial: usize,
}

impl Input {
    pub fn new(initial: usize) -> Self {
        Input {
            buf: vec![0; initial],
            start: 0,
            end: 0,
            swallow: 0,
            initial,
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
    }

    /// Reads more bytes; returns how many, 0 at end of stream or when a request has
    /// outgrown the buffer limit.
    pub async fn read_from<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> std::io::Result<usize> {
        if !self.make_room() {
            return Ok(0);
        }
        let n = r.read(&mut self.buf[self.end..]).await?;
        self.received(n);
        Ok(n)
    }

    /// Frees space at the end of the buffer; false when a request is too long to hold.
    fn make_room(&mut self) -> bool {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            // Give back a buffer grown for one huge value or multi-get.
            if self.buf.len() > 64 * self.initial {
                self.buf = vec![0; self.initial];
            }
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.compact();
            } else {
                if self.buf.len() >= MAX_LINE_BUF {
                    return false;
                }
                let len = self.buf.len() * 2;
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
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// Makes room for a request of `total` bytes that starts at the pending bytes.
    pub fn reserve(&mut self, total: usize) {
        if self.start + total > self.buf.len() {
            self.compact();
            if total > self.buf.len() {
                self.buf.resize(total.next_power_of_two(), 0);
            }
        }
    }

    /// Drops a request of `total` bytes: what is here now, and the rest as it arrives.
    pub fn skip(&mut self, total: usize) {
        let avail = self.end - self.start;
        self.start += total.min(avail);
        self.swallow = total.saturating_sub(avail);
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
    fn a_grown_buffer_shrinks_back_when_drained() {
        let mut i = Input::new(4);
        i.reserve(1000);
        assert!(i.buf.len() >= 1000);
        assert!(i.make_room());
        assert_eq!(i.buf.len(), 4);
    }

    #[test]
    fn reserve_keeps_the_pending_bytes() {
        let mut i = fed(8, b"set k..x");
        i.consume(4);
        i.reserve(20);
        assert_eq!(i.pending(), b"k..x");
        assert!(i.buf.len() >= 20);
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
