//! The watchers' registry and queues without a server: what costs nothing when nobody
//! watches, who gets which line, and how a full queue drops and then reports `skipped=`.

use super::*;
use crate::protocol::text::watch::{EVICTIONS, FETCHERS, MUTATIONS};
use crate::server::watch::Sink;
use std::sync::atomic::AtomicUsize;
use std::task::Wake;

/// Counts its wakes, from whichever thread.
#[derive(Default)]
struct Wakes(AtomicUsize);

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Wakes {
    fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the watcher's connection would write now, if anything; it waits on `wakes` else.
fn take(x: &Watcher, wakes: &Arc<Wakes>) -> Option<Vec<u8>> {
    let waker = Waker::from(wakes.clone());
    let mut out = Vec::new();
    match x.poll_take(&mut out, &Context::from_waker(&waker)) {
        Poll::Ready(()) => Some(out),
        Poll::Pending => None,
    }
}

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
    let a = w.add(FETCHERS, 1 << 16).unwrap();
    let b = w.add(MUTATIONS | EVICTIONS, 1 << 16).unwrap();
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
    let f = w.add(FETCHERS, 1 << 16).unwrap();
    let m = w.add(MUTATIONS, 1 << 16).unwrap();
    let (mut lines, mut entries) = (Vec::new(), Vec::new());
    stage(&mut lines, &mut entries, FETCHERS, old_gid, "old\n");
    let g = w.next_gid();
    stage(&mut lines, &mut entries, FETCHERS, g, "get\n");
    stage(&mut lines, &mut entries, MUTATIONS, g + 1, "store\n");
    w.deliver(&lines, &entries);
    let wakes = Arc::new(Wakes::default());
    assert_eq!(take(&f, &wakes).unwrap(), b"OK\r\nget\n");
    assert_eq!(take(&m, &wakes).unwrap(), b"OK\r\nstore\n");
    assert_eq!(take(&f, &wakes), None);
}

#[test]
fn a_full_queue_drops_counts_and_says_skipped_once_drained() {
    let w = Watchers::default();
    let x = w.add(FETCHERS, 1024).unwrap();
    let wakes = Arc::new(Wakes::default());
    let line = format!("{}\n", "x".repeat(99));
    let offer = |text: &str| {
        let (mut lines, mut entries) = (Vec::new(), Vec::new());
        stage(&mut lines, &mut entries, FETCHERS, w.next_gid(), text);
        w.deliver(&lines, &entries);
    };
    for _ in 0..50 {
        offer(&line);
    }
    let s = w.stats();
    assert!(s.watcher_skipped > 0 && s.watcher_sent > 0);
    assert_eq!(s.watcher_sent + s.watcher_skipped, 50);
    // Bounded: never more than the limit queued; what was dropped after those lines is
    // reported right behind them, without waiting for another line to fit.
    let out = String::from_utf8(take(&x, &wakes).unwrap()).unwrap();
    let (queued, skip) = out.split_at(out.find("skipped=").unwrap());
    assert!(queued.len() <= 1024, "{}", queued.len());
    assert_eq!(skip, format!("skipped={}\n", s.watcher_skipped));
    // Now waiting: the next line wakes it once and is all there is to write.
    assert_eq!(take(&x, &wakes), None);
    offer("next\n");
    assert_eq!(wakes.count(), 1);
    assert_eq!(take(&x, &wakes).unwrap(), b"next\n");
}

#[test]
fn lines_dropped_while_waiting_wake_it_to_say_so() {
    let w = Watchers::default();
    let x = w.add(FETCHERS, 256).unwrap();
    let wakes = Arc::new(Wakes::default());
    assert_eq!(take(&x, &wakes).unwrap(), b"OK\r\n");
    assert_eq!(take(&x, &wakes), None);
    // A line the queue can never hold is dropped; the waiting connection still hears of it.
    let (mut lines, mut entries) = (Vec::new(), Vec::new());
    stage(
        &mut lines,
        &mut entries,
        FETCHERS,
        w.next_gid(),
        &"y".repeat(400),
    );
    w.deliver(&lines, &entries);
    assert_eq!(wakes.count(), 1);
    assert_eq!(take(&x, &wakes).unwrap(), b"skipped=1\n");
}

#[test]
fn a_line_queued_from_another_thread_wakes_the_waiting_connection() {
    let w = Arc::new(Watchers::default());
    let x = w.add(FETCHERS, 1 << 16).unwrap();
    let wakes = Arc::new(Wakes::default());
    take(&x, &wakes).unwrap();
    for round in 1..=100 {
        // Waiting: the waker is left under the queue's lock, so the line cannot slip by.
        assert_eq!(take(&x, &wakes), None);
        let w2 = w.clone();
        std::thread::spawn(move || {
            let (mut lines, mut entries) = (Vec::new(), Vec::new());
            stage(&mut lines, &mut entries, FETCHERS, w2.next_gid(), "l\n");
            w2.deliver(&lines, &entries);
        })
        .join()
        .unwrap();
        assert_eq!(wakes.count(), round);
        assert_eq!(take(&x, &wakes).unwrap(), b"l\n");
    }
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
