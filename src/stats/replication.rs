//! `stats replication`: the node's role, totals over shards, then each shard's stream, every
//! number a declared one (`replication::{ReplGauges, ReplCounts}`).

use super::{ShardSnapshot, declared, stat};
use crate::replication::{NodeRepl, ReplCounts, ReplGauges, ReplSnapshot};

/// Node totals, in this order; each merges over shards as declared (lag_ms is the worst).
const TOTAL_LINES: &[&str] = &[
    "lag_records",
    "lag_ms",
    "lag_us",
    "backlog_bytes",
    "full_resyncs",
    "partial_resyncs",
    "records_sent",
    "records_applied",
    "frames_refused",
    "versions_refused",
    "links_refused",
    "tls_refused",
];

pub(super) fn total(reps: &[(usize, &ReplSnapshot)], name: &str) -> u64 {
    let g = ReplGauges::total(reps.iter().map(|(_, r)| &r.gauges));
    let c = ReplCounts::total(reps.iter().map(|(_, r)| &r.counts));
    declared(g.get(name).or_else(|| c.get(name)), name)
}

/// `stats replication`: the node's role and each shard's stream to the twin.
pub fn write_replication(
    out: &mut Vec<u8>,
    cfg: &crate::config::Config,
    node: Option<&NodeRepl>,
    shards: &[ShardSnapshot],
) {
    let (Some(rc), Some(node)) = (&cfg.repl, node) else {
        stat(out, "role", "standalone");
        out.extend_from_slice(b"END\r\n");
        return;
    };
    stat(out, "role", "twin");
    stat(out, "twin", &rc.twin);
    stat(out, "repl_listen", rc.listen);
    stat(out, "repl_id", format!("{:016x}", node.repl_id));
    stat(out, "node_id", node.node_id);
    stat(
        out,
        "secret_required",
        if rc.secret.is_some() { "yes" } else { "no" },
    );
    stat(out, "tls", if rc.tls.is_some() { "yes" } else { "no" });
    let reps: Vec<_> = shards
        .iter()
        .filter_map(|s| s.repl.as_ref().map(|r| (s.shard, r)))
        .collect();
    let streaming = reps.iter().filter(|(_, r)| r.link == "streaming").count();
    stat(out, "links_streaming", streaming);
    for name in TOTAL_LINES {
        stat(out, name, total(&reps, name));
    }
    for (id, r) in &reps {
        stat(out, &format!("shard:{id}:link"), r.link);
        let mut line = |d: &crate::counters::Desc, v: u64| {
            stat(out, &format!("shard:{id}:{}", d.name), v);
        };
        r.gauges.for_each(&mut line);
        r.counts.for_each(&mut line);
    }
    out.extend_from_slice(b"END\r\n");
}

#[cfg(test)]
pub(super) fn table_names() -> &'static [&'static str] {
    TOTAL_LINES
}
