//! Time: expiry, touch, flush (now and delayed) and the background reclaim of dead items.

use super::*;

#[test]
fn expiry_rules() {
    let mut s = st();
    let now = (T0 / 1000) as i64;
    s.store(Set, b"rel", 0, 10, b"x");
    s.store(Set, b"30d", 0, 30 * DAY, b"x");
    s.store(Set, b"30d+1", 0, 30 * DAY + 1, b"x"); // absolute 1970 time: already expired
    s.store(Set, b"abs", 0, now + 20, b"x");
    s.store(Set, b"abs_past", 0, now, b"x");
    s.store(Set, b"neg", 0, -1, b"x");
    s.store(Set, b"never", 0, 0, b"x");
    assert!(s.get(b"rel").is_some());
    assert!(s.get(b"30d").is_some());
    assert!(s.get(b"30d+1").is_none());
    assert!(s.get(b"abs").is_some());
    assert!(s.get(b"abs_past").is_none());
    assert!(s.get(b"neg").is_none());
    advance(&mut s, 9);
    assert!(s.get(b"rel").is_some());
    advance(&mut s, 1);
    assert!(s.get(b"rel").is_none());
    advance(&mut s, 10);
    assert!(s.get(b"abs").is_none());
    advance(&mut s, 30 * DAY as u64);
    assert!(s.get(b"30d").is_none());
    assert!(s.get(b"never").is_some());
    assert_eq!(s.stats().get_expired, 6);
}

#[test]
fn negative_exptime_set_hides_old_item() {
    let mut s = st();
    s.store(Set, b"k", 0, 0, b"old");
    assert_eq!(s.store(Set, b"k", 0, -1, b"new"), Stored);
    assert_eq!(s.get(b"k"), None);
    assert_eq!(s.stats().curr_items, 0);
}

#[test]
fn touch_and_gat() {
    let mut s = st();
    assert!(!s.touch(b"k", 10));
    s.store(Set, b"k", 3, 5, b"v");
    let c = cas_of(&mut s, b"k");
    assert!(s.touch(b"k", 100));
    advance(&mut s, 50);
    let v = s.get_and_touch(b"k", 10).unwrap();
    assert_eq!(
        (v.value, v.flags, v.cas),
        (&b"v"[..], 3, c),
        "touch keeps the CAS"
    );
    advance(&mut s, 10);
    assert!(s.get_and_touch(b"k", 10).is_none());
    let st = s.stats();
    assert_eq!((st.cmd_touch, st.touch_hits, st.touch_misses), (4, 2, 2));
    assert_eq!(
        (st.cmd_get, st.get_hits),
        (1, 1),
        "gat counts as touch only"
    );
    s.store(Set, b"n", 0, 10, b"v");
    assert!(s.touch(b"n", 0));
    advance(&mut s, 1000);
    assert!(s.get(b"n").is_some());
    assert!(s.touch(b"n", -1));
    assert!(s.get(b"n").is_none());
}

#[test]
fn flush_now_and_delayed() {
    let mut s = st();
    s.store(Set, b"a", 0, 0, b"1");
    s.flush_all(0);
    assert!(s.get(b"a").is_none());
    assert_eq!(s.stats().get_flushed, 1);
    s.store(Set, b"b", 0, 0, b"1");
    assert!(s.get(b"b").is_some());
    s.flush_all(10);
    s.store(Set, b"c", 0, 0, b"1");
    advance(&mut s, 9);
    assert!(s.get(b"b").is_some());
    advance(&mut s, 1);
    s.store(Set, b"d", 0, 0, b"1");
    assert!(s.get(b"b").is_none());
    assert!(s.get(b"c").is_none());
    assert!(s.get(b"d").is_some());
    // A later flush replaces a pending one but never un-flushes.
    s.store(Set, b"e", 0, 0, b"1");
    s.flush_all(5);
    s.flush_all(100);
    advance(&mut s, 50);
    assert!(s.get(b"e").is_some());
    advance(&mut s, 50);
    assert!(s.get(b"e").is_none());
    s.store(Set, b"f", 0, 0, b"1");
    s.flush_all(-3);
    assert!(s.get(b"f").is_none());
    s.store(Set, b"g", 0, 0, b"1");
    s.flush_all((s.clock.now_ms / 1000) as i64 + 400); // absolute time
    advance(&mut s, 399);
    assert!(s.get(b"g").is_some());
    advance(&mut s, 1);
    assert!(s.get(b"g").is_none());
}

#[test]
fn reclaim_step_frees_expired() {
    let mut s = st();
    for i in 0..1000u32 {
        let exp = if i % 2 == 0 { 5 } else { 0 };
        s.store(Set, &i.to_le_bytes(), 0, exp, b"v");
    }
    s.store(Set, b"big", 0, 5, &vec![0u8; 600_000]);
    advance(&mut s, 5);
    let mut freed = 0;
    for _ in 0..100 {
        freed += s.reclaim_step(50);
    }
    assert_eq!(freed, 501);
    let st = s.stats();
    // The background reclaim is the LRU crawler: memcached counts its frees apart from
    // `reclaimed` (memory reused by a write).
    assert_eq!(
        (st.curr_items, st.crawler_reclaimed, st.expired_unfetched),
        (500, 501, 501)
    );
    assert_eq!(st.reclaimed, 0);
    assert!(st.crawler_items_checked >= 1001, "{st:?}");
    assert_eq!(s.reclaim_step(1000), 0);
}

/// `lru_crawler crawl`: only the classes asked for, at most `tocrawl` items of each from
/// the tail, each checked item counted in its class, the dead ones freed.
#[test]
fn crawl_job_walks_chosen_classes_from_the_tail() {
    let mut s = st();
    // Oldest first: 10 dead-to-be small items, then 10 immortal ones; 5 dead big ones.
    for i in 0..20u32 {
        let exp = if i < 10 { 5 } else { 0 };
        s.store(Set, &i.to_le_bytes(), 0, exp, b"v");
    }
    for i in 0..5u32 {
        s.store(Set, &(100 + i).to_le_bytes(), 0, 5, &[7u8; 300]);
    }
    advance(&mut s, 5);
    let small = s.class_stats()[0].id;
    let big = s.class_stats().iter().find(|c| c.items == 5).unwrap().id;
    // The first 4 of the small class only.
    s.start_crawl(1 << (small - 1), 4);
    while s.crawl_step(3) {}
    assert!(!s.crawling());
    let class = |s: &Store, id| *s.class_stats().iter().find(|c| c.id == id).unwrap();
    let c = class(&s, small);
    assert_eq!(
        (c.crawler_items_checked, c.crawler_reclaimed, c.items),
        (4, 4, 16)
    );
    assert_eq!(class(&s, big).crawler_items_checked, 0);
    // Every class, no limit: the 6 dead small items left and the 5 big ones go.
    s.start_crawl(u64::MAX, 0);
    let mut steps = 0;
    while s.crawl_step(7) {
        steps += 1;
    }
    assert!(steps >= 3, "{steps}");
    let c = class(&s, small);
    assert_eq!(
        (c.crawler_items_checked, c.crawler_reclaimed, c.items),
        (20, 10, 10)
    );
    let b = class(&s, big);
    assert_eq!(
        (b.crawler_items_checked, b.crawler_reclaimed, b.items),
        (5, 5, 0)
    );
    let st = s.stats();
    assert_eq!(
        (st.crawler_reclaimed, st.reclaimed, st.curr_items),
        (15, 0, 10)
    );
}

#[test]
fn a_set_over_an_expired_or_flushed_item_counts_it_reclaimed() {
    let mut s = st();
    assert_eq!(s.store(Set, b"k", 0, 1, b"1"), Stored);
    advance(&mut s, 3);
    assert_eq!(s.store(Set, b"k", 0, 0, b"2"), Stored);
    assert_eq!(s.stats().reclaimed, 1);
    assert_eq!(s.stats().expired_unfetched, 1);
    advance(&mut s, 2);
    s.flush_all(0);
    assert_eq!(s.store(Set, b"k", 0, 0, b"3"), Stored);
    assert_eq!(s.stats().reclaimed, 2);
    // A live item overwritten is neither reclaimed nor evicted.
    assert_eq!(s.store(Set, b"k", 0, 0, b"4"), Stored);
    assert_eq!((s.stats().reclaimed, s.stats().evictions), (2, 0));
}
