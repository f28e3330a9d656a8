//! Per-shard counters and the `stats` family of replies: each shard reports a snapshot,
//! the connection that asked sums them and formats memcached's names in memcached's order.
//! Every value is declared once (`crate::counters`); the files here only choose order.

mod classes;
mod detail;
mod general;
mod latency;
pub mod prometheus;
mod replication;
mod settings;
#[cfg(test)]
mod tests;

pub use classes::{write_items, write_slabs};
pub use detail::{DetailEvent, PrefixStats};
pub use general::{LogStats, ProcessInfo, Show, TlsFigures, write_general, write_shards};
pub use latency::{FAMILIES, FAMILY_NAMES, Family, Latencies, Tally};
pub use replication::write_replication;
pub use settings::{Live, write_settings};

use crate::counters::{Desc, counters};
use crate::storage::{ClassStats, StoreStats};
use std::fmt::Display;
use std::io::Write;

counters! {
    cells
    /// Connection-level counters a shard keeps for the connections it accepted.
    pub struct ConnCounters => ConnSnapshot {
        curr_connections: Gauge, "Open client connections.";
        total_connections: Counter, "Client connections accepted.";
        rejected_connections: Counter, "Connections refused at the connection limit.";
        bytes_read: Counter, "Bytes read from clients.";
        bytes_written: Counter, "Bytes written to clients.";
        cmd_flush: Counter, "flush_all requests.";
        cmd_meta: Counter, "me requests (memcached 1.6.18 counts only these as meta).";
        store_too_large: Counter, "Stores refused because the item was too large.";
        store_no_memory: Counter, "Stores refused for want of memory.";
        auth_cmds: Counter, "Authentication attempts (SASL and -Y logins).";
        auth_errors: Counter, "Failed authentication attempts.";
        conn_yields: Counter, "Times a connection gave way after -R requests in one read.";
        idle_kicks: Counter, "Connections closed after -o idle_timeout seconds of silence.";
        remote_batches as "cross_shard_batches": Counter, "Batches sent to other shards.";
        remote_ops as "cross_shard_ops": Counter, "Requests sent to other shards.";
        handed_off as "cross_shard_handoffs": Counter, "Requests sent to other shards with the client's socket, for the owner to write the answer itself (a whole read's owner may leave the last of them to the asker).";
    }
}

/// What one shard reports for `stats`.
#[derive(Clone, Debug)]
pub struct ShardSnapshot {
    pub shard: usize,
    pub store: StoreStats,
    pub classes: Vec<ClassStats>,
    pub conns: ConnSnapshot,
    pub repl: Option<crate::replication::ReplSnapshot>,
    /// `stats conns` lines for connections this shard serves, by connection id.
    pub conn_lines: Vec<(u64, Vec<u8>)>,
    /// `stats detail` counts for the keys this shard owns.
    pub detail: PrefixStats,
    /// Latency of the requests this shard's connections made, and of those handed to it
    /// whose answer it wrote, by family (`/metrics`).
    pub latency: Latencies,
}

/// The node's declared connection and store values: every shard's, merged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub conns: ConnSnapshot,
    pub store: StoreStats,
}

impl Totals {
    pub fn of(shards: &[ShardSnapshot]) -> Totals {
        Totals {
            conns: ConnSnapshot::total(shards.iter().map(|s| &s.conns)),
            store: StoreStats::total(shards.iter().map(|s| &s.store)),
        }
    }

    /// The value declared under `name` (the two sets share no name).
    pub fn get(&self, name: &str) -> Option<u64> {
        self.conns.get(name).or_else(|| self.store.get(name))
    }

    /// Every declared value with its name, kind and help: what an exporter lists.
    pub fn for_each(&self, mut f: impl FnMut(&'static Desc, u64)) {
        self.conns.for_each(&mut f);
        self.store.for_each(&mut f);
    }
}

/// Looks up a name one of our order tables lists; the tables' tests check every name.
fn declared(value: Option<u64>, name: &str) -> u64 {
    value.unwrap_or_else(|| panic!("stat {name} is not declared"))
}

fn stat(out: &mut Vec<u8>, name: &str, value: impl Display) {
    let _ = write!(out, "STAT {name} {value}\r\n");
}
