//! The Prometheus text exposition (format 0.0.4) of the snapshots `stats` reads: the general
//! stats under memcached_exporter's names where it has one (so its dashboards work) and
//! `corecached_` names otherwise, the per-shard figures of `stats shards`, the replication
//! figures of `stats replication`, and the latency histograms per command family.

use super::general::{SHARD_LINES, rusage};
use super::latency::{BOUNDS_US, FAMILY_NAMES};
use super::{Latencies, ProcessInfo, ShardSnapshot, Totals};
use crate::counters::{Desc, Kind, Kind::Counter, Kind::Gauge};
use std::fmt::{Display, Write};

/// The Content-Type of what [`write_metrics`] produces.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Declared stats memcached_exporter exports under a name of its own.
const EXPORTER_NAMES: &[(&str, &str)] = &[
    ("curr_connections", "memcached_current_connections"),
    ("total_connections", "memcached_connections_total"),
    (
        "rejected_connections",
        "memcached_connections_rejected_total",
    ),
    ("conn_yields", "memcached_connections_yielded_total"),
    ("bytes_read", "memcached_read_bytes_total"),
    ("bytes_written", "memcached_written_bytes_total"),
    ("bytes", "memcached_current_bytes"),
    ("curr_items", "memcached_current_items"),
    ("total_items", "memcached_items_total"),
    ("evictions", "memcached_items_evicted_total"),
    ("reclaimed", "memcached_items_reclaimed_total"),
    ("store_too_large", "memcached_item_too_large_total"),
    ("store_no_memory", "memcached_item_no_memory_total"),
];

/// Commands whose `_hits` and `_misses` become `memcached_commands_total{command,status}`.
const HIT_MISS: &[&str] = &["get", "delete", "incr", "decr", "cas", "touch"];

/// Declared stats already in `memcached_commands_total` (cmd_get and cmd_touch are its
/// hits plus misses), so not exported twice.
const IN_COMMANDS: &[&str] = &["cmd_get", "cmd_touch", "cmd_set", "cmd_flush", "cas_badval"];

const COMMANDS: &str = "memcached_commands_total";
const COMMANDS_HELP: &str = "Requests by command and outcome (memcached_exporter's names).";

/// What the replication part needs besides the shards' snapshots.
pub struct Replication {
    /// Whether this node runs with a twin.
    pub enabled: bool,
}

/// The whole `/metrics` body.
pub fn write_metrics(
    out: &mut String,
    p: &ProcessInfo,
    repl: &Replication,
    shards: &[ShardSnapshot],
) {
    let mut e = Exposition::default();
    let t = Totals::of(shards);
    process(&mut e, p);
    commands(&mut e, &t);
    t.for_each(|d, v| declared(&mut e, d, v));
    per_shard(&mut e, shards);
    replication(&mut e, repl, shards);
    slabs::slabs(&mut e, shards);
    let mut lat = Latencies::default();
    shards.iter().for_each(|s| lat.merge(&s.latency));
    latency(&mut e, &lat);
    e.write(out);
}

/// Metric families in the order first seen, each with its samples; Prometheus wants a
/// family's samples together, under one HELP and TYPE.
#[derive(Default)]
struct Exposition {
    families: Vec<Metric>,
}

/// One metric family: its HELP and TYPE, then its sample lines.
struct Metric {
    name: String,
    kind: &'static str,
    help: String,
    samples: String,
}

impl Exposition {
    /// One sample of the family `name`, which is created (with `kind` and `help`) at its
    /// first sample.
    fn sample(&mut self, name: &str, kind: &'static str, help: &str, sample: Sample<'_>) {
        let i = match self.families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.families.push(Metric {
                    name: name.to_string(),
                    kind,
                    help: help.to_string(),
                    samples: String::new(),
                });
                self.families.len() - 1
            }
        };
        let s = &mut self.families[i].samples;
        let Sample(suffix, labels, value) = sample;
        let _ = match labels.is_empty() {
            true => writeln!(s, "{name}{suffix} {value}"),
            false => writeln!(s, "{name}{suffix}{{{labels}}} {value}"),
        };
    }

    fn plain(&mut self, name: &str, kind: Kind, help: &str, labels: &str, value: impl Display) {
        let v = value.to_string();
        self.sample(name, kind.name(), help, Sample("", labels, &v));
    }

    fn write(&self, out: &mut String) {
        for f in &self.families {
            let help = f.help.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = write!(
                out,
                "# HELP {} {help}\n# TYPE {} {}\n{}",
                f.name, f.name, f.kind, f.samples
            );
        }
    }
}

/// A sample: the suffix appended to its family's name (a histogram's `_bucket`, `_sum` and
/// `_count`; else empty), its labels (`a="x",b="y"`, or empty) and its value.
struct Sample<'a>(&'a str, &'a str, &'a str);

/// A label value, escaped as the text format asks.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What a process fact may read: the facts, and the process's (user, system) CPU seconds.
type Fact = fn(&ProcessInfo, (f64, f64)) -> String;

/// Process facts: what plain `stats` reports that no shard counts.
const FACTS: &[(&str, Kind, &str, Fact)] = &[
    (
        "memcached_up",
        Gauge,
        "1: the server answered this scrape.",
        |_, _| "1".into(),
    ),
    // memcached_exporter types this a counter; a gauge here, as Prometheus's lint wants
    // `_total` on counters, under the same name.
    (
        "memcached_uptime_seconds",
        Gauge,
        "Seconds since the server started.",
        |p, _| p.uptime.to_string(),
    ),
    (
        "memcached_time_seconds",
        Gauge,
        "The server's unix time.",
        |p, _| p.now_unix.to_string(),
    ),
    (
        "memcached_process_user_cpu_seconds_total",
        Counter,
        "CPU seconds the process spent in user mode.",
        |_, (user, _)| user.to_string(),
    ),
    (
        "memcached_process_system_cpu_seconds_total",
        Counter,
        "CPU seconds the process spent in the kernel.",
        |_, (_, system)| system.to_string(),
    ),
    (
        "memcached_max_connections",
        Gauge,
        "Client connection limit (-c).",
        |p, _| p.max_connections.to_string(),
    ),
    (
        "memcached_limit_bytes",
        Gauge,
        "Item memory limit of the node (-m, or cache_memlimit since).",
        |p, _| p.limit_maxbytes.to_string(),
    ),
    (
        "memcached_accepting_connections",
        Gauge,
        "1: listening (corecached never stops listening).",
        |_, _| "1".into(),
    ),
    (
        "memcached_connections_listener_disabled_total",
        Counter,
        "Times listening stopped at the limit: 0, as over -c a connection is answered and closed.",
        |_, _| "0".into(),
    ),
    (
        "corecached_threads",
        Gauge,
        "Shards, one thread each (-t).",
        |p, _| p.threads.to_string(),
    ),
    (
        "corecached_reserved_fds",
        Gauge,
        "Descriptors held back from the connection limit for the server's own use.",
        |p, _| p.reserved_fds.to_string(),
    ),
];

fn process(e: &mut Exposition, p: &ProcessInfo) {
    let cpu = rusage();
    for (name, kind, help, fact) in FACTS {
        e.plain(name, *kind, help, "", fact(p, cpu));
    }
    let version = format!("version=\"{}\"", label(p.version));
    let help = "The server's version, as a label.";
    e.plain("memcached_version", Gauge, help, &version, 1);
}

/// `memcached_commands_total`, as memcached_exporter derives it from the hit and miss stats.
fn commands(e: &mut Exposition, t: &Totals) {
    let get = |name: &str| t.get(name).unwrap_or(0);
    let mut cmd = |command: &str, status: &str, v: u64| {
        let labels = format!("command=\"{command}\",status=\"{status}\"");
        e.plain(COMMANDS, Kind::Counter, COMMANDS_HELP, &labels, v);
    };
    for c in HIT_MISS {
        cmd(c, "hit", get(&format!("{c}_hits")));
        cmd(c, "miss", get(&format!("{c}_misses")));
    }
    cmd("cas", "badval", get("cas_badval"));
    cmd("flush", "hit", get("cmd_flush"));
    // cmd_set counts cas commands too, as memcached's does.
    let cas = get("cas_hits") + get("cas_misses") + get("cas_badval");
    cmd("set", "hit", get("cmd_set").saturating_sub(cas));
}

/// One declared node-wide value, under the exporter's name or ours.
fn declared(e: &mut Exposition, d: &Desc, v: u64) {
    let hit_miss = HIT_MISS.iter().any(|c| {
        d.name
            .strip_prefix(c)
            .is_some_and(|rest| rest == "_hits" || rest == "_misses")
    });
    if hit_miss || IN_COMMANDS.contains(&d.name) {
        return;
    }
    let name = match EXPORTER_NAMES.iter().find(|(n, _)| *n == d.name) {
        Some((_, m)) => m.to_string(),
        None => ours("corecached_", d),
    };
    e.plain(&name, d.kind, d.help, "", v);
}

/// Our name for a declared value: the prefix, the stat's name, `_total` for a counter.
fn ours(prefix: &str, d: &Desc) -> String {
    match d.kind {
        Kind::Counter => format!("{prefix}{}_total", d.name),
        Kind::Gauge => format!("{prefix}{}", d.name),
    }
}

/// `stats shards`, one series per shard.
fn per_shard(e: &mut Exposition, shards: &[ShardSnapshot]) {
    for s in shards {
        let labels = format!("shard=\"{}\"", s.shard);
        let mut one = |d: &'static Desc, v: u64| {
            if SHARD_LINES.contains(&d.name) {
                let help = format!("Per shard: {}", d.help);
                e.plain(&ours("corecached_shard_", d), d.kind, &help, &labels, v);
            }
        };
        s.conns.for_each(&mut one);
        s.store.for_each(&mut one);
    }
}

/// `stats replication`: whether there is a twin, then each shard's stream.
fn replication(e: &mut Exposition, repl: &Replication, shards: &[ShardSnapshot]) {
    let help = "1: this node runs with a twin (--twin).";
    e.plain(
        "corecached_replication_enabled",
        Kind::Gauge,
        help,
        "",
        u8::from(repl.enabled),
    );
    let reps: Vec<_> = shards
        .iter()
        .filter_map(|s| s.repl.as_ref().map(|r| (s.shard, r)))
        .collect();
    for (id, r) in reps {
        let labels = format!("shard=\"{id}\"");
        let up = u8::from(r.link == "streaming");
        let help = "1: the shard's stream to the twin is streaming (else connecting or syncing).";
        e.plain(
            "corecached_replication_link_up",
            Kind::Gauge,
            help,
            &labels,
            up,
        );
        let mut one = |d: &'static Desc, v: u64| match d.name.strip_suffix("_ms") {
            // `lag_us` is `lag_ms` finer, and both would be `lag_seconds` here.
            _ if d.name.ends_with("_us") => {}
            // Prometheus's base unit of time is the second.
            Some(stem) => {
                let name = format!("corecached_replication_{stem}_seconds");
                e.plain(&name, d.kind, d.help, &labels, v as f64 / 1000.0);
            }
            None => e.plain(
                &ours("corecached_replication_", d),
                d.kind,
                d.help,
                &labels,
                v,
            ),
        };
        r.gauges.for_each(&mut one);
        r.counts.for_each(&mut one);
    }
}

const LATENCY: &str = "corecached_request_duration_seconds";
const LATENCY_HELP: &str = "Request latency by command family, from the start of the batch \
    the request was read in (the shard reads its clock once per batch) to its reply written; \
    a batch's requests share one observation.";

/// The latency histograms, summed over shards.
fn latency(e: &mut Exposition, lat: &Latencies) {
    for (family, h) in FAMILY_NAMES.iter().zip(&lat.0) {
        let cum = h.cumulative();
        let bounds = BOUNDS_US.iter().map(|&us| (us as f64 / 1e6).to_string());
        for (le, n) in bounds.chain(["+Inf".to_string()]).zip(cum) {
            let labels = format!("family=\"{family}\",le=\"{le}\"");
            let v = n.to_string();
            e.sample(
                LATENCY,
                "histogram",
                LATENCY_HELP,
                Sample("_bucket", &labels, &v),
            );
        }
        let labels = format!("family=\"{family}\"");
        let sum = (h.sum_us as f64 / 1e6).to_string();
        e.sample(
            LATENCY,
            "histogram",
            LATENCY_HELP,
            Sample("_sum", &labels, &sum),
        );
        let count = h.count.to_string();
        e.sample(
            LATENCY,
            "histogram",
            LATENCY_HELP,
            Sample("_count", &labels, &count),
        );
    }
}

#[path = "prometheus_slabs.rs"]
mod slabs;
#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
