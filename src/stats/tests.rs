//! Tests of the stats tables: every name they list is declared, and the replies keep
//! memcached's names and order.

use super::*;
use crate::replication::{ReplCounts, ReplGauges, ReplSnapshot};

fn shard(id: usize, items: u64) -> ShardSnapshot {
    let conns = ConnCounters::default();
    ConnCounters::add(&conns.curr_connections, 1);
    ConnCounters::add(&conns.remote_ops, 7);
    ShardSnapshot {
        shard: id,
        store: StoreStats {
            curr_items: items,
            hash_power_level: 16 + id as u64,
            hash_is_expanding: id as u64 % 2,
            ..Default::default()
        },
        classes: vec![ClassStats {
            id: 1,
            chunk_size: 96,
            total_pages: 1,
            items,
            age_secs: 3 + id as u64,
            ..Default::default()
        }],
        conns: conns.snapshot(),
        repl: Some(ReplSnapshot {
            link: "streaming",
            gauges: ReplGauges {
                lag_ms: 5 * id as u64,
                backlog_bytes: 100,
                ..Default::default()
            },
            counts: ReplCounts {
                records_sent: 2,
                ..Default::default()
            },
        }),
        conn_lines: Vec::new(),
        detail: PrefixStats::default(),
        latency: Latencies::default(),
    }
}

#[test]
fn every_listed_name_is_declared_and_sets_share_none() {
    let t = Totals::default();
    let (general, shards) = general::table_names();
    for name in general.iter().chain(shards) {
        assert!(t.get(name).is_some(), "{name}");
    }
    for d in ConnSnapshot::FIELDS {
        assert!(t.store.get(d.name).is_none(), "{} in both", d.name);
    }
    for name in classes::table_names() {
        assert!(ClassStats::default().get(name).is_some(), "{name}");
    }
    for name in replication::table_names() {
        let g = ReplGauges::default().get(name);
        assert!(g.or(ReplCounts::default().get(name)).is_some(), "{name}");
    }
}

#[test]
fn general_keeps_memcached_order_and_merges() {
    let info = ProcessInfo {
        pid: 1,
        uptime: 2,
        now_unix: 3,
        version: "v",
        max_connections: 4,
        threads: 2,
        limit_maxbytes: 5,
        reserved_fds: 6,
        lru_crawler_running: false,
        lru_crawler_starts: 0,
        log: Default::default(),
        show: Show {
            maxconns_fast: true,
            ..Default::default()
        },
        tls: None,
    };
    let mut out = Vec::new();
    write_general(&mut out, &info, &[shard(0, 2), shard(1, 3)]);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // memcached 1.6 prints 83 names with no_lru_crawler and no_lru_maintainer (t/stats.t),
    // which leave slab_reassign's 8 on; without it, 75.
    assert_eq!(lines.len(), 75 + 1);
    assert_eq!(
        lines[..4],
        [
            "STAT pid 1",
            "STAT uptime 2",
            "STAT time 3",
            "STAT version v"
        ]
    );
    for want in [
        "STAT curr_connections 2",
        "STAT connection_structures 2",
        "STAT cmd_meta 0",
        "STAT hash_power_level 17",
        "STAT hash_is_expanding 1",
        "STAT curr_items 5",
        "STAT conn_yields 0",
        "STAT reserved_fds 6",
    ] {
        assert!(lines.contains(&want), "{want} in {text}");
    }
    assert_eq!(lines[74..], ["STAT lrutail_reflocked 0", "END"]);
    assert!(!text.contains("cross_shard") && !text.contains("slabs_moved"));
}

#[test]
fn shards_items_and_replication_lines() {
    let snaps = [shard(0, 2), shard(1, 3)];
    let mut out = Vec::new();
    write_shards(&mut out, &snaps[..1]);
    let want = "STAT shard:0:curr_items 2\r\nSTAT shard:0:bytes 0\r\nSTAT shard:0:limit_bytes 0\r\n\
        STAT shard:0:total_pages 0\r\nSTAT shard:0:cmd_get 0\r\nSTAT shard:0:cmd_set 0\r\n\
        STAT shard:0:get_hits 0\r\nSTAT shard:0:evictions 0\r\nSTAT shard:0:curr_connections 1\r\n\
        STAT shard:0:cross_shard_batches 0\r\nSTAT shard:0:cross_shard_ops 7\r\n\
        STAT shard:0:cross_shard_handoffs 0\r\nEND\r\n";
    assert_eq!(String::from_utf8(out).unwrap(), want);

    let mut out = Vec::new();
    write_items(&mut out, &snaps, false);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("STAT items:1:number 5\r\nSTAT items:1:age 4\r\n"));
    assert!(text.contains("STAT items:1:evicted_time 0\r\n"));
    assert!(!text.contains("number_cold"));
    // With the LRU maintainer, memcached's segment lines: every item is cold here.
    let mut out = Vec::new();
    write_items(&mut out, &snaps, true);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with(
        "STAT items:1:number 5\r\nSTAT items:1:number_hot 0\r\nSTAT items:1:number_warm 0\r\n\
         STAT items:1:number_cold 5\r\nSTAT items:1:age_hot 0\r\nSTAT items:1:age_warm 0\r\n\
         STAT items:1:age 4\r\n"
    ));
    assert!(text.ends_with("STAT items:1:hits_to_temp 0\r\nEND\r\n"));

    let mut out = Vec::new();
    write_slabs(&mut out, &snaps, 1 << 20, 0);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with(
        "STAT 1:chunk_size 96\r\nSTAT 1:chunks_per_page 0\r\nSTAT 1:total_pages 2\r\n"
    ));
    assert!(text.ends_with("STAT active_slabs 1\r\nSTAT total_malloced 0\r\nEND\r\n"));
}

#[test]
fn replication_totals_sum_and_take_the_worst_lag() {
    let reps = [shard(0, 0), shard(1, 0)];
    let pairs: Vec<_> = reps
        .iter()
        .map(|s| (s.shard, s.repl.as_ref().unwrap()))
        .collect();
    assert_eq!(replication::total(&pairs, "lag_ms"), 5);
    assert_eq!(replication::total(&pairs, "backlog_bytes"), 200);
    assert_eq!(replication::total(&pairs, "records_sent"), 4);
}
