//! Tests of the exposition: well-formed families, memcached_exporter's derivations, and
//! every section present.

use super::*;
use crate::replication::{ReplCounts, ReplGauges, ReplSnapshot};
use crate::stats::{ConnCounters, Family, PrefixStats, Show, Tally};
use crate::storage::{ClassStats, StoreStats};
use std::collections::{HashMap, HashSet};

fn info() -> ProcessInfo {
    ProcessInfo {
        pid: 1,
        uptime: 7,
        now_unix: 1_700_000_000,
        version: "1.6.21-corecached-test",
        max_connections: 1024,
        threads: 2,
        limit_maxbytes: 64 << 20,
        reserved_fds: 96,
        lru_crawler_running: false,
        lru_crawler_starts: 0,
        show: Show::default(),
        tls: None,
        log: Default::default(),
    }
}

fn shard(id: usize, repl: bool) -> ShardSnapshot {
    let conns = ConnCounters::default();
    ConnCounters::add(&conns.curr_connections, 1);
    ConnCounters::add(&conns.bytes_read, 100);
    let mut latency = Latencies::default();
    let mut t = Tally::default();
    t.note(Family::Get);
    t.note(Family::Set);
    latency.record(&mut t, 40);
    ShardSnapshot {
        shard: id,
        store: StoreStats {
            curr_items: 5,
            cmd_set: 10,
            cas_hits: 2,
            cas_badval: 1,
            get_hits: 3,
            get_misses: 4,
            cmd_get: 7,
            evictions: 1,
            ..Default::default()
        },
        classes: Vec::new(),
        conns: conns.snapshot(),
        repl: repl.then(|| ReplSnapshot {
            link: if id == 0 { "streaming" } else { "connecting" },
            gauges: ReplGauges {
                lag_ms: 1500,
                ..Default::default()
            },
            counts: ReplCounts {
                records_sent: 9,
                ..Default::default()
            },
        }),
        conn_lines: Vec::new(),
        detail: PrefixStats::default(),
        latency,
    }
}

fn render(repl: bool) -> String {
    let shards = [shard(0, repl), shard(1, repl)];
    let mut out = String::new();
    write_metrics(&mut out, &info(), &Replication { enabled: repl }, &shards);
    out
}

/// Sample lines by `name{labels}`.
fn samples(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn families_are_contiguous_with_one_help_and_type_and_no_sample_twice() {
    let text = render(true);
    let mut seen = HashSet::new();
    let mut current = String::new();
    let mut keys = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(seen.insert(name.clone()), "{name} described twice");
            current = name;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(name, current);
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
        } else {
            let key = line.rsplit_once(' ').unwrap().0;
            let name = key.split('{').next().unwrap();
            assert!(
                name.starts_with(&current),
                "{line} outside its family {current}"
            );
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{name}"
            );
            assert!(keys.insert(key.to_string()), "{key} twice");
        }
    }
    assert!(text.ends_with('\n'));
}

#[test]
fn exporter_names_and_derivations() {
    let s = samples(&render(false));
    let v = |k: &str| s.get(k).unwrap_or_else(|| panic!("no {k}")).as_str();
    assert_eq!(v("memcached_up"), "1");
    assert_eq!(v("memcached_uptime_seconds"), "7");
    assert_eq!(
        v("memcached_version{version=\"1.6.21-corecached-test\"}"),
        "1"
    );
    assert_eq!(v("memcached_current_items"), "10");
    assert_eq!(v("memcached_read_bytes_total"), "200");
    assert_eq!(v("memcached_current_connections"), "2");
    assert_eq!(v("memcached_items_evicted_total"), "2");
    assert_eq!(v("memcached_limit_bytes"), (64u64 << 20).to_string());
    // cmd_set (20) includes the cas commands (6), as in memcached.
    let cmd = |c: &str, st: &str| v(&format!("{COMMANDS}{{command=\"{c}\",status=\"{st}\"}}"));
    assert_eq!(cmd("set", "hit"), "14");
    assert_eq!(cmd("get", "hit"), "6");
    assert_eq!(cmd("get", "miss"), "8");
    assert_eq!(cmd("cas", "badval"), "2");
    assert_eq!(cmd("flush", "hit"), "0");
    // Ours, with the counter suffix; no stat is exported twice.
    assert_eq!(v("corecached_outofmemory_total"), "0");
    assert!(!s.contains_key("corecached_cmd_get_total"));
    assert!(!s.contains_key("corecached_get_hits_total"));
    assert!(!s.contains_key("corecached_curr_items"));
    assert_eq!(v("corecached_replication_enabled"), "0");
    assert!(
        !s.keys()
            .any(|k| k.starts_with("corecached_replication_lag"))
    );
}

#[test]
fn per_shard_replication_and_latency_sections() {
    let s = samples(&render(true));
    let v = |k: &str| s.get(k).unwrap_or_else(|| panic!("no {k}")).as_str();
    assert_eq!(v("corecached_shard_curr_items{shard=\"1\"}"), "5");
    assert_eq!(v("corecached_shard_cmd_set_total{shard=\"0\"}"), "10");
    assert_eq!(v("corecached_replication_enabled"), "1");
    assert_eq!(v("corecached_replication_link_up{shard=\"0\"}"), "1");
    assert_eq!(v("corecached_replication_link_up{shard=\"1\"}"), "0");
    assert_eq!(v("corecached_replication_lag_seconds{shard=\"1\"}"), "1.5");
    assert_eq!(
        v("corecached_replication_records_sent_total{shard=\"0\"}"),
        "9"
    );
    // Two shards, each one get at 40 µs: above 25 µs, within 50 µs.
    let b = |fam: &str, le: &str| v(&format!("{LATENCY}_bucket{{family=\"{fam}\",le=\"{le}\"}}"));
    assert_eq!(b("get", "0.000025"), "0");
    assert_eq!(b("get", "0.00005"), "2");
    assert_eq!(b("get", "+Inf"), "2");
    assert_eq!(b("meta", "+Inf"), "0");
    assert_eq!(v(&format!("{LATENCY}_count{{family=\"set\"}}")), "2");
    assert_eq!(v(&format!("{LATENCY}_sum{{family=\"get\"}}")), "0.00008");
}

#[test]
fn slab_classes_with_pages_under_the_exporter_names() {
    let mut shards = [shard(0, false), shard(1, false)];
    for (i, s) in shards.iter_mut().enumerate() {
        s.classes = vec![
            ClassStats {
                id: 1,
                chunk_size: 96,
                total_pages: 1,
                items: 2 + i as u64,
                get_hits: 4,
                cas_badval: 1,
                ..Default::default()
            },
            ClassStats {
                id: 2,
                chunk_size: 120,
                ..Default::default()
            },
        ];
    }
    let mut out = String::new();
    write_metrics(&mut out, &info(), &Replication { enabled: false }, &shards);
    let s = samples(&out);
    assert_eq!(s["memcached_slab_current_items{slab=\"1\"}"], "5");
    assert_eq!(s["memcached_slab_chunk_size_bytes{slab=\"1\"}"], "96");
    assert_eq!(
        s["memcached_slab_commands_total{slab=\"1\",command=\"get\",status=\"hit\"}"],
        "8"
    );
    assert_eq!(
        s["memcached_slab_commands_total{slab=\"1\",command=\"cas\",status=\"badval\"}"],
        "2"
    );
    // A class without a page is left out, as `stats slabs` leaves it out.
    assert!(!s.keys().any(|k| k.contains("slab=\"2\"")));
}

#[test]
fn help_and_labels_are_escaped() {
    assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    let mut e = Exposition::default();
    e.plain("x", Kind::Gauge, "line\\one\ntwo", "", 1);
    let mut out = String::new();
    e.write(&mut out);
    assert_eq!(out, "# HELP x line\\\\one\\ntwo\n# TYPE x gauge\nx 1\n");
}
