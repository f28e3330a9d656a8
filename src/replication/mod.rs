//! Twin replication: every shard streams its writes to the twin node; the twin applies each
//! on the shard that owns the key by its own hash; the higher version wins on both sides.
//! `wire` and `backlog` are pure; `outbound` and `inbound` run the streams on the shard's
//! executor, seeing the shard only through [`port::TwinShard`].

pub mod admit;
pub mod backlog;
pub mod frames;
pub mod inbound;
pub mod outbound;
pub mod port;
pub mod tls;
pub mod validate;
pub mod wire;

use crate::counters::counters;
use crate::storage::unix_us;
use admit::LinkLimits;
use backlog::Backlog;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Node-wide replication identity and what this node has applied of each twin stream.
/// Clones share `inbound`, so each shard's link can hold the node's state itself.
#[derive(Clone)]
pub struct NodeRepl {
    /// Names this process's streams; a restarted node has a new one, so its twin knows the
    /// old sequence numbers mean nothing.
    pub repl_id: u64,
    pub node_id: u8,
    /// (twin repl_id, twin shard) -> highest sequence applied here. Shared by the shards
    /// because any shard may accept a given stream after a reconnect.
    pub inbound: Arc<Mutex<HashMap<(u64, u16), u64>>>,
    /// The replication port's connection limits, shared for the same reason.
    pub links: Arc<LinkLimits>,
}

impl NodeRepl {
    pub fn new() -> Self {
        let mut b = [0u8; 9];
        fill_random(&mut b);
        NodeRepl {
            repl_id: u64::from_le_bytes(b[..8].try_into().unwrap()) | 1,
            node_id: b[8].max(1),
            inbound: Arc::new(Mutex::new(HashMap::new())),
            links: Arc::default(),
        }
    }
}

impl Default for NodeRepl {
    fn default() -> Self {
        Self::new()
    }
}

pub fn fill_random(buf: &mut [u8]) {
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    assert_eq!(n as usize, buf.len(), "getrandom failed");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Handshake,
    FullSync,
    Streaming,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::FullSync => "full_sync",
            LinkState::Streaming => "streaming",
        }
    }
}

counters! {
    cells
    /// What one shard's stream has done, bumped on its own thread.
    pub struct ReplCounters => ReplCounts {
        records_sent: Counter, "Records sent to the twin.";
        records_applied: Counter, "Records from the twin applied here.";
        full_resyncs: Counter, "Times the twin needed a full copy of this shard.";
        partial_resyncs: Counter, "Times the backlog covered the twin's gap.";
        frames_refused: Counter, "Inbound twin links closed for a malformed or unexpected frame.";
        versions_refused: Counter, "Twin writes dropped for a version too far ahead of this clock.";
        links_refused: Counter, "Replication connections closed over the port's own limits.";
        tls_refused: Counter, "Replication connections refused at TLS: not TLS, or a certificate that does not verify.";
    }
}

counters! {
    plain
    /// Where one shard's stream stands, worked out from the backlog when asked.
    pub struct ReplGauges {
        head_seq: Gauge, "Sequence number of the newest record in the backlog.";
        acked_seq: Gauge, "Highest sequence number the twin confirmed applying.";
        lag_records: Gauge, "Records the twin has not confirmed.";
        lag_ms: Gauge(Max), "Age of the oldest record the twin has not confirmed.";
        lag_us: Gauge(Max), "The same age in microseconds.";
        backlog_bytes: Gauge, "Bytes held in the backlog.";
        backlog_records: Gauge, "Records held in the backlog.";
    }
}

/// One shard's outbound replication state (touched only by its own thread).
pub struct ShardRepl {
    pub backlog: RefCell<Backlog>,
    pub link: Cell<LinkState>,
    /// Highest sequence the twin confirmed applying.
    pub acked: Cell<u64>,
    /// Records sent and applied, resyncs, refusals: declared once in `ReplCounters`.
    pub counters: ReplCounters,
    wake_tx: LocalSender<()>,
    pub wake_rx: LocalReceiver<()>,
}

impl ShardRepl {
    pub fn new(backlog_bytes: usize, backlog_secs: u64) -> Self {
        // Capacity 1: a pending wake-up is a flag, not a queue.
        let (wake_tx, wake_rx) = local_channel::new_bounded(1);
        ShardRepl {
            backlog: RefCell::new(Backlog::new(backlog_bytes, backlog_secs * 1000)),
            link: Cell::new(LinkState::Connecting),
            acked: Cell::new(0),
            counters: ReplCounters::default(),
            wake_tx,
            wake_rx,
        }
    }

    /// Logs the store's new mutations (its encoded log) and wakes the sender.
    pub fn log(&self, recs: &[u8]) {
        if recs.is_empty() {
            return;
        }
        self.backlog.borrow_mut().append(recs, unix_us());
        self.wake();
    }

    /// Wakes the sender: new records, or its link died.
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }

    pub fn snapshot(&self) -> ReplSnapshot {
        let b = self.backlog.borrow();
        let head = b.next_seq() - 1;
        let acked = self.acked.get().min(head);
        let lag_us = if acked < head {
            b.time_of(acked + 1)
                .map_or(0, |t| unix_us().saturating_sub(t))
        } else {
            0
        };
        ReplSnapshot {
            link: self.link.get().name(),
            gauges: ReplGauges {
                head_seq: head,
                acked_seq: acked,
                lag_records: head - acked,
                lag_ms: lag_us / 1000,
                lag_us,
                backlog_bytes: b.bytes() as u64,
                backlog_records: b.len(),
            },
            counts: self.counters.snapshot(),
        }
    }
}

/// What one shard reports for `stats replication`.
#[derive(Clone, Debug, Default)]
pub struct ReplSnapshot {
    pub link: &'static str,
    pub gauges: ReplGauges,
    pub counts: ReplCounts,
}
