//! The watchers' registry and queues without a server: what costs nothing when nobody
//! watches, who gets which line, and how a full queue drops and then reports `skipped=`.

use super::*;
use crate::protocol::text::watch::{EVICTIONS, FETCHERS, MUTATIONS};
use crate::server::watch::Sink;
use std::io::Read;

fn stage(
    lines: &mut Vec<u8>,
    entries: &mut Vec<(u32, u64, usize)>,
    kind: u32,
    gid: u64,
    text: &str,
) {
    lines.extend_from_slice(text.as_bytes());
    entries.push((kind, gid, lines.len()));
}

#[test]
fn no_watcher_no_kinds_and_a_sink_stages_nothing_for_nobody() {
    let w = Watchers::default();
    assert_eq!(w.kinds(), 0);
    let sink = Sink::new(64 << 10);
    // With nobody watching, emitting is never asked for; flushing an empty sink is free.
    sink.flush(&w);
    assert_eq!(w.stats().worker_written, 0);
    let (a, _rx) = w.add(FETCHERS, 1 << 16).unwrap();
    let (b, _rx2) = w.add(MUTATIONS | EVICTIONS, 1 << 16).unwrap();
    assert_eq!(w.kinds(), FETCHERS | MUTATIONS | EVICTIONS);
    w.remove(&a);
    assert_eq!(w.kinds(), MUTATIONS | EVICTIONS);
    w.remove(&b);
    assert_eq!((w.kinds(), w.count()), (0, 0));
}

#[test]
fn each_watcher_gets_its_kinds_from_its_start_on() {
    let w = Watchers::default();
    let old_gid = w.next_gid();
    let (f, _rx) = w.add(FETCHERS, 1 << 16).unwrap();
    let (m, _rx2) = w.add(MUTATIONS, 1 << 16).unwrap();
    let (mut lines, mut entries) = (Vec::new(), Vec::new());
    stage(&mut lines, &mut entries, FETCHERS, old_gid, "old\n");
    let g = w.next_gid();
    stage(&mut lines, &mut entries, FETCHERS, g, "get\n");
    stage(&mut lines, &mut entries, MUTATIONS, g + 1, "store\n");
    w.deliver(&lines, &entries);
    let mut out = Vec::new();
    f.take(&mut out);
    assert_eq!(out, b"OK\r\nget\n");
    out.clear();
    m.take(&mut out);
    assert_eq!(out, b"OK\r\nstore\n");
}

#[test]
fn a_full_queue_drops_counts_and_then_says_skipped() {
    let w = Watchers::default();
    let (x, mut rx) = w.add(FETCHERS, 1024).unwrap();
    let line = format!("{}\n", "x".repeat(99));
    for _ in 0..50 {
        let (mut lines, mut entries) = (Vec::new(), Vec::new());
        stage(&mut lines, &mut entries, FETCHERS, w.next_gid(), &line);
        w.deliver(&lines, &entries);
    }
    let s = w.stats();
    assert!(s.watcher_skipped > 0 && s.watcher_sent > 0);
    assert_eq!(s.watcher_sent + s.watcher_skipped, 50);
    let mut out = Vec::new();
    x.take(&mut out);
    // Bounded: never more than the limit.
    assert!(out.len() <= 1024, "{}", out.len());
    // The connection is now asleep: the next line that fits comes after `skipped=N`,
    // and one wake byte is written for it.
    let (mut lines, mut entries) = (Vec::new(), Vec::new());
    stage(&mut lines, &mut entries, FETCHERS, w.next_gid(), "next\n");
    x.take(&mut Vec::new());
    w.deliver(&lines, &entries);
    let mut after = Vec::new();
    x.take(&mut after);
    let text = String::from_utf8(after).unwrap();
    assert_eq!(text, format!("skipped={}\nnext\n", s.watcher_skipped));
    let mut b = [0u8; 8];
    assert_eq!(rx.read(&mut b).unwrap(), 1);
}

#[test]
fn the_store_keeps_evictions_only_while_someone_watches_them() {
    use crate::storage::{Store, StoreConfig, StoreMode};
    let store = std::cell::RefCell::new(
        Store::new(StoreConfig {
            mem_limit: 2 << 20,
            page_size: 64 << 10,
            ..StoreConfig::default()
        })
        .unwrap(),
    );
    let sink = Sink::new(64 << 10);
    let value = vec![b'v'; 10_000];
    let fill = |store: &mut Store, round: usize| {
        for i in 0..400 {
            let key = format!("r{round}k{i}");
            store.store_versioned(StoreMode::Set, key.as_bytes(), 0, 0, &value);
        }
    };
    let mut out = Vec::new();
    let round = |kinds: u32, n: usize, out: &mut Vec<_>| {
        sink.sync_store(kinds, &store);
        let mut s = store.borrow_mut();
        fill(&mut s, n);
        s.take_evicted(out);
    };
    round(FETCHERS, 0, &mut out);
    assert!(out.is_empty());
    round(EVICTIONS, 1, &mut out);
    assert!(!out.is_empty());
    out.clear();
    round(0, 2, &mut out);
    assert!(out.is_empty());
}
