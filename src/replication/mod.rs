//! Twin replication: every shard streams its writes to the twin node; the twin applies each
//! on the shard that owns the key by its own hash; the higher version wins on both sides.
//! `wire` and `backlog` are pure; `outbound` and `inbound` run the streams on the shard's
//! executor, seeing the shard only through [`port::TwinShard`].

pub mod backlog;
mod frames;
pub mod inbound;
pub mod outbound;
pub mod port;
pub mod wire;

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
}

impl NodeRepl {
    pub fn new() -> Self {
        let mut b = [0u8; 9];
        fill_random(&mut b);
        NodeRepl {
            repl_id: u64::from_le_bytes(b[..8].try_into().unwrap()) | 1,
            node_id: b[8].max(1),
            inbound: Arc::new(Mutex::new(HashMap::new())),
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

/// One shard's outbound replication state (touched only by its own thread).
pub struct ShardRepl {
    pub backlog: RefCell<Backlog>,
    pub link: Cell<LinkState>,
    /// Highest sequence the twin confirmed applying.
    pub acked: Cell<u64>,
    pub records_sent: Cell<u64>,
    pub records_applied: Cell<u64>,
    pub full_resyncs: Cell<u64>,
    pub partial_resyncs: Cell<u64>,
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
            records_sent: Cell::new(0),
            records_applied: Cell::new(0),
            full_resyncs: Cell::new(0),
            partial_resyncs: Cell::new(0),
            wake_tx,
            wake_rx,
        }
    }

    /// Logs the store's new mutations (its encoded log) and wakes the sender.
    pub fn log(&self, recs: &[u8], now_ms: u64) {
        if recs.is_empty() {
            return;
        }
        self.backlog.borrow_mut().append(recs, now_ms);
        self.wake();
    }

    /// Wakes the sender: new records, or its link died.
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }

    pub fn snapshot(&self, now_ms: u64) -> ReplSnapshot {
        let b = self.backlog.borrow();
        let head = b.next_seq() - 1;
        let acked = self.acked.get().min(head);
        let lag_ms = if acked < head {
            b.time_of(acked + 1).map_or(0, |t| now_ms.saturating_sub(t))
        } else {
            0
        };
        ReplSnapshot {
            link: self.link.get().name(),
            head_seq: head,
            acked_seq: acked,
            lag_records: head - acked,
            lag_ms,
            backlog_bytes: b.bytes() as u64,
            backlog_records: b.len(),
            records_sent: self.records_sent.get(),
            records_applied: self.records_applied.get(),
            full_resyncs: self.full_resyncs.get(),
            partial_resyncs: self.partial_resyncs.get(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ReplSnapshot {
    pub link: &'static str,
    pub head_seq: u64,
    pub acked_seq: u64,
    pub lag_records: u64,
    pub lag_ms: u64,
    pub backlog_bytes: u64,
    pub backlog_records: u64,
    pub records_sent: u64,
    pub records_applied: u64,
    pub full_resyncs: u64,
    pub partial_resyncs: u64,
}
