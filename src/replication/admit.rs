//! The replication port's own connection limits, separate from the client port's: few
//! connections at a time before the handshake, one live stream per twin stream, and a cap
//! on live streams. Node-wide, because any shard may accept any stream (SO_REUSEPORT).

use std::collections::HashMap;
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Connections that have not finished the handshake, over all shards. A twin reconnects
/// one stream per shard at once, so this lets a twin of 64 shards back in without a retry;
/// larger twins retry with backoff. Idle connections beyond it are closed at once, so they
/// cannot take the fds the client port needs.
pub const MAX_PENDING: usize = 64;
/// Live authenticated streams: one per twin shard, and a twin has at most this many.
pub const MAX_LIVE: usize = 1024;
/// A burst of refusals logs one line per this long.
const WARN_EVERY_MS: u64 = 10_000;

/// Why a connection was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// [`MAX_PENDING`] connections are already in their handshake.
    Pending,
    /// [`MAX_LIVE`] streams are already live.
    Live,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Pending => "too many replication connections in their handshake",
            Refusal::Live => "too many live replication streams",
        }
    }
}

struct Live {
    generation: u64,
    fd: RawFd,
    superseded: Arc<AtomicBool>,
}

/// Shared by every shard's replication listener (see `NodeRepl::links`).
#[derive(Default)]
pub struct LinkLimits {
    pending: AtomicUsize,
    live: Mutex<HashMap<(u64, u16), Live>>,
    generation: AtomicU64,
    last_warn_ms: AtomicU64,
}

/// Holds one of the [`MAX_PENDING`] places until dropped (after the handshake, or its end).
pub struct PendingSlot(Arc<LinkLimits>);

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Marks one stream live until dropped. Drop it before the socket it was given closes:
/// until then another shard may shut that socket down to supersede it.
pub struct LiveSlot {
    limits: Arc<LinkLimits>,
    key: (u64, u16),
    generation: u64,
    superseded: Arc<AtomicBool>,
}

impl LiveSlot {
    /// A newer connection of the same stream took over; this one must stop touching the
    /// stream's state.
    pub fn superseded(&self) -> bool {
        self.superseded.load(Ordering::Acquire)
    }
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        let mut live = self.limits.live.lock().unwrap();
        if live
            .get(&self.key)
            .is_some_and(|l| l.generation == self.generation)
        {
            live.remove(&self.key);
        }
    }
}

impl LinkLimits {
    /// A place for a new connection's handshake, or None if [`MAX_PENDING`] are taken.
    pub fn try_pending(self: &Arc<Self>) -> Option<PendingSlot> {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(PendingSlot(self.clone()))
    }

    /// Makes the connection on `fd` the live one for twin stream `key`.
    ///
    /// If the stream is already live, the old connection is shut down and this one wins:
    /// the twin sends each stream on one connection, so it reconnecting means it gave up on
    /// the old one, which is most likely dead (a cut the old side has not noticed yet and,
    /// with no traffic, may not notice for a long time). Refusing the new one instead would
    /// lock the twin out until then.
    pub fn go_live(self: &Arc<Self>, key: (u64, u16), fd: RawFd) -> Result<LiveSlot, Refusal> {
        let mut live = self.live.lock().unwrap();
        if let Some(old) = live.get(&key) {
            old.superseded.store(true, Ordering::Release);
            // SAFETY: shutdown takes no memory. The fd is still open: its owner removes
            // this entry under this lock before it closes the socket.
            unsafe { libc::shutdown(old.fd, libc::SHUT_RDWR) };
        } else if live.len() >= MAX_LIVE {
            return Err(Refusal::Live);
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let superseded = Arc::new(AtomicBool::new(false));
        let entry = Live {
            generation,
            fd,
            superseded: superseded.clone(),
        };
        live.insert(key, entry);
        Ok(LiveSlot {
            limits: self.clone(),
            key,
            generation,
            superseded,
        })
    }

    /// True at most once per [`WARN_EVERY_MS`], so a flood of refusals logs one line.
    pub fn warn_due(&self, now_ms: u64) -> bool {
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        if last != 0 && now_ms.saturating_sub(last) < WARN_EVERY_MS {
            return false;
        }
        self.last_warn_ms
            .compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Streams live now.
    pub fn live(&self) -> usize {
        self.live.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::io::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn pending_places_are_bounded_and_come_back_when_dropped() {
        let l = Arc::new(LinkLimits::default());
        let slots: Vec<_> = (0..MAX_PENDING).map(|_| l.try_pending().unwrap()).collect();
        assert!(l.try_pending().is_none());
        drop(slots);
        assert!(l.try_pending().is_some());
    }

    #[test]
    fn a_second_link_of_a_stream_shuts_the_first_down() {
        let l = Arc::new(LinkLimits::default());
        let (old, mut old_peer) = UnixStream::pair().unwrap();
        let first = l.go_live((7, 0), old.as_raw_fd()).unwrap();
        let second = l.go_live((7, 0), -1).unwrap();
        assert!(first.superseded() && !second.superseded());
        assert_eq!(
            old_peer.read(&mut [0u8; 8]).unwrap(),
            0,
            "old link still open"
        );
        // The old link ending does not end the new one's place.
        drop(first);
        assert_eq!(l.live(), 1);
        drop(second);
        assert_eq!(l.live(), 0);
    }

    #[test]
    fn live_streams_are_capped() {
        let l = Arc::new(LinkLimits::default());
        let slots: Vec<_> = (0..MAX_LIVE as u16)
            .map(|s| l.go_live((1, s), -1).unwrap())
            .collect();
        assert_eq!(l.go_live((2, 0), -1).err(), Some(Refusal::Live));
        // A stream already live may still be taken over.
        assert!(l.go_live((1, 3), -1).is_ok());
        drop(slots);
    }

    #[test]
    fn refusals_warn_once_per_burst() {
        let l = LinkLimits::default();
        assert!(l.warn_due(1_000));
        assert!(!l.warn_due(1_500));
        assert!(l.warn_due(1_000 + WARN_EVERY_MS));
    }
}
