//! Frame I/O shared by both ends of the twin link: whole frames read from a byte stream,
//! one frame written, and the deadline every handshake step runs under. `FrameReader` is
//! public for the fuzz targets (fuzz/), which feed it arbitrary streams.

use super::wire::{self, DecodeError, Frame};
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::time::{Duration, Instant};

/// The whole handshake, on either end, must finish within this.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest frame either end accepts before the twin is authenticated. Handshake frames
/// are under 100 bytes; anything this large is not a twin, and is refused before a byte is
/// reserved for it.
pub const PRE_AUTH_MAX_FRAME: usize = 4096;
/// Receive buffer after the handshake: room for many small records per read.
const STREAM_BUF: usize = 64 * 1024;

/// Reads whole frames from a byte stream.
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Largest frame length accepted; a longer one is an error as soon as its length
    /// field arrives.
    limit: usize,
}

impl FrameReader {
    /// A reader for an authenticated stream: frames up to `wire::MAX_FRAME`.
    #[cfg(test)]
    pub(super) fn new() -> Self {
        let mut r = Self::pre_auth();
        r.authenticated();
        r
    }

    /// A reader for a stream whose peer has not proved anything yet: small buffer, frames
    /// up to [`PRE_AUTH_MAX_FRAME`].
    pub fn pre_auth() -> Self {
        FrameReader {
            buf: vec![0; PRE_AUTH_MAX_FRAME + 8],
            start: 0,
            end: 0,
            limit: PRE_AUTH_MAX_FRAME,
        }
    }

    /// The peer passed the handshake: accept frames up to `wire::MAX_FRAME`.
    pub fn authenticated(&mut self) {
        self.limit = wire::MAX_FRAME;
        if self.buf.len() < STREAM_BUF {
            self.buf.resize(STREAM_BUF, 0);
        }
    }

    /// Err if the frame at the front announces more than this reader accepts.
    fn check_limit(&self) -> Result<(), String> {
        let p = self.pending();
        if p.len() >= 4 {
            let len = u32::from_le_bytes(p[..4].try_into().unwrap()) as usize;
            if len > self.limit {
                return Err(format!(
                    "frame of {len} bytes over the limit of {} bytes",
                    self.limit
                ));
            }
        }
        Ok(())
    }

    /// Bytes read but not yet consumed: whole frames, perhaps followed by part of one.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
    }

    /// The next frame already buffered, if any.
    fn buffered(&mut self) -> Result<Option<Frame>, String> {
        self.check_limit()?;
        match wire::decode(&self.buf[self.start..self.end]) {
            Ok((f, used)) => {
                self.start += used;
                Ok(Some(f))
            }
            Err(DecodeError::Incomplete) => Ok(None),
            Err(DecodeError::Invalid(why)) => Err(why.to_string()),
        }
    }

    /// Reads more bytes; Ok(false) at end of stream.
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<bool, String> {
        // Before growing toward an announced length, make sure it is one we accept.
        self.check_limit()?;
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let want = (self.buf.len() * 2).min(self.limit + 8);
            self.buf.resize(want, 0);
        }
        let n = r
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|e| e.to_string())?;
        self.end += n;
        Ok(n > 0)
    }

    pub async fn next<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<Frame, String> {
        loop {
            if let Some(f) = self.buffered()? {
                return Ok(f);
            }
            if !self.fill(r).await? {
                return Err("link closed by twin".into());
            }
        }
    }
}

/// A handshake that must finish by `deadline` (started HANDSHAKE_TIMEOUT before it); a
/// TLS session and the link's own handshake share one.
pub(super) async fn by_deadline<T>(
    deadline: Instant,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let expire = async {
        glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await;
        Err("handshake timed out".to_string())
    };
    futures_lite::future::or(f, expire).await
}

/// When a handshake starting now must be over.
pub(super) fn handshake_deadline() -> Instant {
    Instant::now() + HANDSHAKE_TIMEOUT
}

/// Writes all of `bytes` and flushes: a TLS stream may hold written bytes until flushed.
pub(super) async fn write_out<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
) -> Result<(), String> {
    w.write_all(bytes).await.map_err(|e| e.to_string())?;
    w.flush().await.map_err(|e| e.to_string())
}

pub(super) async fn send<W: AsyncWrite + Unpin>(w: &mut W, f: &Frame) -> Result<(), String> {
    let mut out = Vec::new();
    wire::encode(&mut out, f);
    write_out(w, &out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Hands out its bytes at most `step` at a time, as a socket might.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = self.step.min(buf.len()).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Poll::Ready(Ok(n))
        }
    }

    fn trickle(frames: &[Frame], step: usize) -> Trickle {
        let mut bytes = Vec::new();
        for f in frames {
            wire::encode(&mut bytes, f);
        }
        Trickle { bytes, at: 0, step }
    }

    #[test]
    fn frames_split_across_reads_come_out_whole_then_the_end_is_an_error() {
        let sent = [
            Frame::Welcome { next_seq: 3 },
            Frame::SnapBegin,
            Frame::Ack { seq: 77 },
        ];
        for step in [1, 3, 7, 1000] {
            let mut src = trickle(&sent, step);
            let mut reader = FrameReader::new();
            for f in &sent {
                assert_eq!(&block_on(reader.next(&mut src)).unwrap(), f, "step {step}");
            }
            let end = block_on(reader.next(&mut src)).unwrap_err();
            assert_eq!(end, "link closed by twin");
        }
    }

    #[test]
    fn a_frame_larger_than_the_buffer_grows_it() {
        let reason = "x".repeat(200 * 1024);
        let sent = [Frame::Refused { reason }, Frame::Ack { seq: 1 }];
        let mut src = trickle(&sent, 50_000);
        let mut reader = FrameReader::new();
        for f in &sent {
            assert_eq!(&block_on(reader.next(&mut src)).unwrap(), f);
        }
    }

    #[test]
    fn pending_bytes_stay_until_consumed() {
        let mut src = trickle(&[Frame::Ack { seq: 5 }, Frame::Ack { seq: 6 }], 1000);
        let mut reader = FrameReader::new();
        assert!(block_on(reader.fill(&mut src)).unwrap());
        let all = reader.pending().len();
        let (_, first) = wire::decode(reader.pending()).unwrap();
        reader.consume(first);
        assert_eq!(reader.pending().len(), all - first);
        assert_eq!(
            block_on(reader.next(&mut src)).unwrap(),
            Frame::Ack { seq: 6 }
        );
        assert!(!block_on(reader.fill(&mut src)).unwrap());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut src = Trickle {
            bytes: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            at: 0,
            step: 64,
        };
        assert!(block_on(FrameReader::new().next(&mut src)).is_err());
    }

    #[test]
    fn before_auth_an_oversized_frame_is_refused_from_its_length_alone() {
        // Only the length field and kind of a 128 MiB hello ever arrive.
        let mut bytes = (128u32 << 20).to_le_bytes().to_vec();
        bytes.push(wire::kind::HELLO);
        bytes.extend_from_slice(&[0; 4000]);
        let mut src = Trickle {
            bytes,
            at: 0,
            step: 1 << 20,
        };
        let mut reader = FrameReader::pre_auth();
        let err = block_on(reader.next(&mut src)).unwrap_err();
        assert!(err.contains("over the limit"), "{err}");
        assert!(reader.buf.len() <= PRE_AUTH_MAX_FRAME + 8);
    }

    #[test]
    fn after_auth_large_frames_pass() {
        let reason = "x".repeat(PRE_AUTH_MAX_FRAME * 3);
        let sent = [Frame::Refused { reason }];
        let mut reader = FrameReader::pre_auth();
        assert!(block_on(reader.next(&mut trickle(&sent, 1000))).is_err());
        let mut reader = FrameReader::pre_auth();
        reader.authenticated();
        assert_eq!(
            block_on(reader.next(&mut trickle(&sent, 1000))).unwrap(),
            sent[0]
        );
    }
}
