//! Unit tests of the store's command semantics, expiry, flush, memory management and stats.

use super::counter::fmt_u64;
use super::*;
use crate::storage::{DeltaResult, StoreMode, StoreResult};

const T0: u64 = 1_700_000_000_000;
const DAY: i64 = 86_400;

fn store_with(cfg: StoreConfig) -> Store {
    let mut s = Store::new(cfg).unwrap();
    s.set_clock(T0);
    s
}

fn st() -> Store {
    store_with(StoreConfig::default())
}

fn val(s: &mut Store, k: &[u8]) -> Option<Vec<u8>> {
    s.get(k).map(|v| v.value.to_vec())
}

fn cas_of(s: &mut Store, k: &[u8]) -> u64 {
    s.get(k).unwrap().cas
}

fn advance(s: &mut Store, secs: u64) {
    let now = s.clock.now_ms;
    s.set_clock(now + secs * 1000);
}

use StoreMode::*;
use StoreResult::*;

/// A key's first hit sets FETCHED and its second ACTIVE; from the third on a hit writes
/// nothing, which takes `get_hashed`'s other branch. Every one must read the same item.
#[test]
fn repeated_hits_read_the_same_item() {
    let mut s = st();
    assert_eq!(s.store(Set, b"hot-key", 0xfeed, 0, b"payload"), Stored);
    let cas = cas_of(&mut s, b"hot-key");
    for _ in 0..4 {
        let v = s.get(b"hot-key").unwrap();
        assert_eq!(
            (v.key, v.value, v.flags, v.cas),
            (&b"hot-key"[..], &b"payload"[..], 0xfeed, cas)
        );
    }
    let st = s.stats();
    assert_eq!((st.get_hits, st.get_misses, st.cmd_get), (5, 0, 5));
    assert_eq!(s.class_stats().iter().map(|c| c.get_hits).sum::<u64>(), 5);
}

#[test]
fn set_get_overwrite() {
    let mut s = st();
    assert_eq!(s.store(Set, b"k", 7, 0, b"hello"), Stored);
    let v = s.get(b"k").unwrap();
    assert_eq!((v.key, v.value, v.flags), (&b"k"[..], &b"hello"[..], 7));
    let c1 = v.cas;
    assert_eq!(s.store(Set, b"k", 0, 0, b"bye"), Stored);
    let v = s.get(b"k").unwrap();
    assert_eq!((v.value, v.flags), (&b"bye"[..], 0));
    assert!(v.cas > c1);
    assert_eq!(s.get(b"nope"), None);
    let st = s.stats();
    assert_eq!(
        (st.curr_items, st.total_items, st.cmd_set, st.cmd_get),
        (1, 2, 2, 3)
    );
    assert_eq!((st.get_hits, st.get_misses), (2, 1));
    assert_eq!(st.bytes, item::total_len(1, 3, 0) as u64);
}

#[test]
fn add_replace() {
    let mut s = st();
    assert_eq!(s.store(Replace, b"k", 0, 0, b"a"), NotStored);
    assert_eq!(s.store(Add, b"k", 0, 0, b"a"), Stored);
    assert_eq!(s.store(Add, b"k", 0, 0, b"b"), NotStored);
    assert_eq!(s.store(Replace, b"k", 0, 0, b"c"), Stored);
    assert_eq!(val(&mut s, b"k").unwrap(), b"c");
    // add over an expired item succeeds
    assert_eq!(s.store(Set, b"e", 0, 1, b"x"), Stored);
    advance(&mut s, 1);
    assert_eq!(s.store(Add, b"e", 0, 0, b"y"), Stored);
    assert_eq!(val(&mut s, b"e").unwrap(), b"y");
}

#[test]
fn append_prepend_keep_flags_and_exptime() {
    let mut s = st();
    assert_eq!(s.store(Append, b"k", 0, 0, b"x"), NotStored);
    assert_eq!(s.store(Prepend, b"k", 0, 0, b"x"), NotStored);
    s.store(Set, b"k", 5, 100, b"mid");
    let c1 = cas_of(&mut s, b"k");
    assert_eq!(s.store(Append, b"k", 9, 0, b"-end"), Stored);
    assert_eq!(s.store(Prepend, b"k", 9, 0, b"start-"), Stored);
    let v = s.get(b"k").unwrap();
    assert_eq!((v.value, v.flags), (&b"start-mid-end"[..], 5));
    assert!(v.cas > c1);
    advance(&mut s, 100);
    assert_eq!(s.get(b"k"), None, "exptime kept from the original set");
}

#[test]
fn cas_semantics() {
    let mut s = st();
    assert_eq!(s.store(Cas(1), b"k", 0, 0, b"a"), NotFound);
    s.store(Set, b"k", 0, 0, b"a");
    let c = cas_of(&mut s, b"k");
    assert_eq!(s.store(Cas(c + 1), b"k", 0, 0, b"b"), Exists);
    assert_eq!(s.store(Cas(0), b"k", 0, 0, b"b"), Exists);
    assert_eq!(s.store(Cas(c), b"k", 0, 0, b"b"), Stored);
    assert_eq!(s.store(Cas(c), b"k", 0, 0, b"c"), Exists);
    assert_eq!(val(&mut s, b"k").unwrap(), b"b");
    let st = s.stats();
    assert_eq!((st.cas_misses, st.cas_badval, st.cas_hits), (1, 3, 1));
}

/// memcached counts a cas hit on the slab class of the item the cas replaced, like every
/// other per-class hit counter, not on the class the new value lands in.
#[test]
fn cas_hits_count_on_the_old_items_class() {
    let mut s = st();
    s.store(Set, b"k", 0, 0, b"small");
    let c = cas_of(&mut s, b"k");
    assert_eq!(s.store(Cas(c), b"k", 0, 0, &[b'v'; 2000]), Stored);
    let cs = s.class_stats();
    let hits = |size: usize| {
        let k = cs.iter().find(|k| k.chunk_size as usize >= size).unwrap();
        (k.id, k.cas_hits)
    };
    let (old, new) = (hits(48), hits(2000));
    assert_ne!(old.0, new.0);
    assert_eq!((old.1, new.1), (1, 0));
}

#[test]
fn cas_disabled_like_memcached_dash_c() {
    let mut s = store_with(StoreConfig {
        cas: false,
        ..Default::default()
    });
    s.store(Set, b"k", 0, 0, b"a");
    assert_eq!(s.get(b"k").unwrap().cas, 0);
    assert_eq!(s.store(Cas(0), b"k", 0, 0, b"b"), Exists);
    assert_eq!(s.store(Cas(5), b"zz", 0, 0, b"b"), NotFound);
}

#[test]
fn versions_are_hlc_with_node_id() {
    let mut s = store_with(StoreConfig {
        node_id: 7,
        ..Default::default()
    });
    s.store(Set, b"a", 0, 0, b"1");
    s.store(Set, b"b", 0, 0, b"1");
    let (a, b) = (cas_of(&mut s, b"a"), cas_of(&mut s, b"b"));
    assert_eq!(a & 0xff, 7);
    assert_eq!(a >> 20, T0);
    assert_eq!(b, a + 256);
    // A clock going backwards never makes versions go backwards.
    s.set_clock(T0 - 5000);
    s.store(Set, b"c", 0, 0, b"1");
    assert!(cas_of(&mut s, b"c") > b);
}

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
fn incr_decr() {
    let mut s = st();
    assert_eq!(s.incr_decr(b"n", true, 1), DeltaResult::NotFound);
    s.store(Set, b"n", 4, 0, b"10");
    let c = cas_of(&mut s, b"n");
    assert_eq!(s.incr_decr(b"n", false, 1), DeltaResult::Value(9));
    let v = s.get(b"n").unwrap();
    assert_eq!((v.value, v.flags), (&b"9 "[..], 4));
    assert!(v.cas > c);
    assert_eq!(s.incr_decr(b"n", true, 100), DeltaResult::Value(109));
    assert_eq!(val(&mut s, b"n").unwrap(), b"109");
    assert_eq!(s.incr_decr(b"n", false, 1000), DeltaResult::Value(0));
    assert_eq!(val(&mut s, b"n").unwrap(), b"0  ");
    s.store(Set, b"m", 0, 0, b"18446744073709551615");
    assert_eq!(s.incr_decr(b"m", true, 2), DeltaResult::Value(1));
    assert_eq!(val(&mut s, b"m").unwrap(), b"1                   ");
    for bad in [
        &b"12a"[..],
        b"-5",
        b"  ",
        b"",
        b"abc",
        b"18446744073709551616",
    ] {
        s.store(Set, b"x", 0, 0, bad);
        assert_eq!(
            s.incr_decr(b"x", true, 1),
            DeltaResult::NonNumeric,
            "{bad:?}"
        );
    }
    for (ok, n) in [
        (&b" 7"[..], 8),
        (b"+5", 6),
        (b"5\t", 6),
        (b"12 a", 13),
        (b"-0", 1),
    ] {
        s.store(Set, b"x", 0, 0, ok);
        assert_eq!(s.incr_decr(b"x", true, 1), DeltaResult::Value(n), "{ok:?}");
    }
    let st = s.stats();
    assert_eq!((st.incr_misses, st.incr_hits, st.decr_hits), (1, 7, 2));
}

#[test]
fn parse_counter_cases() {
    assert_eq!(parse_counter(b"0"), Some(0));
    assert_eq!(parse_counter(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_counter(b"-18446744073709551615"), Some(1));
    assert_eq!(parse_counter(b"-"), None);
    let mut d = [0u8; 20];
    let n = fmt_u64(u64::MAX, &mut d);
    assert_eq!(&d[..n], b"18446744073709551615");
}

#[test]
fn delete() {
    let mut s = st();
    assert!(!s.delete(b"k"));
    s.store(Set, b"k", 0, 0, b"v");
    assert!(s.delete(b"k"));
    assert!(s.get(b"k").is_none());
    let st = s.stats();
    assert_eq!(
        (st.delete_hits, st.delete_misses, st.curr_items, st.bytes),
        (1, 1, 0, 0)
    );
}

#[test]
fn large_items_and_limits() {
    let mut s = store_with(StoreConfig {
        mem_limit: 8 << 20,
        ..Default::default()
    });
    let big = vec![7u8; 700 * 1024];
    assert_eq!(s.store(Set, b"big", 1, 0, &big), Stored);
    assert_eq!(s.get(b"big").unwrap().value, &big[..]);
    assert!(s.item_fits(10, (1 << 20) - 50));
    assert!(!s.item_fits(10, 1 << 20));
    assert_eq!(s.store(Set, b"huge", 0, 0, &vec![0u8; 1 << 20]), TooLarge);
    // Many large items: the limit holds and old ones are evicted.
    for i in 0..40 {
        assert_eq!(s.store(Set, format!("b{i}").as_bytes(), 0, 0, &big), Stored);
        assert!(s.stats().total_pages <= 8);
    }
    assert!(s.get(b"b39").is_some());
    assert!(s.stats().evictions > 0);
    // Small items take memory back from large ones.
    for i in 0..100_000 {
        assert_eq!(
            s.store(Set, format!("s{i}").as_bytes(), 0, 0, b"0123456789"),
            Stored
        );
    }
    assert!(s.get(b"s99999").is_some());
    assert!(s.stats().total_pages <= 8);

    let cfg = StoreConfig {
        max_item_size: 128 << 20,
        mem_limit: 256 << 20,
        ..Default::default()
    };
    let mut s = store_with(cfg);
    assert!(s.item_fits(250, 100 << 20));
    let v = vec![1u8; 20 << 20];
    assert_eq!(s.store(Set, b"k", 0, 0, &v), Stored);
    assert_eq!(s.get(b"k").unwrap().value.len(), 20 << 20);
    assert_eq!(s.stats().total_pages, 21);
    // Bigger than the whole limit: never fits.
    let s = store_with(StoreConfig {
        max_item_size: 128 << 20,
        mem_limit: 4 << 20,
        ..Default::default()
    });
    assert!(!s.item_fits(1, 5 << 20));
}

#[test]
fn reject_too_large_unlinks_on_set_only() {
    let mut s = st();
    s.store(Set, b"k", 0, 0, b"v");
    s.reject_too_large(Add, b"k");
    assert!(s.get(b"k").is_some());
    s.reject_too_large(Set, b"k");
    assert!(s.get(b"k").is_none());
}

#[test]
fn config_validation() {
    assert!(
        Store::new(StoreConfig {
            growth_factor: 0.9,
            ..Default::default()
        })
        .is_err()
    );
    assert!(
        Store::new(StoreConfig {
            min_chunk: 20,
            ..Default::default()
        })
        .is_err()
    );
    assert!(
        Store::new(StoreConfig {
            max_item_size: 200 << 20,
            ..Default::default()
        })
        .is_err()
    );
    assert!(
        Store::new(StoreConfig {
            max_item_size: 128 << 20,
            ..Default::default()
        })
        .is_ok()
    );
}

#[test]
fn no_evictions_means_out_of_memory() {
    let mut s = store_with(StoreConfig {
        mem_limit: 2 << 20,
        evictions: false,
        ..Default::default()
    });
    let v = vec![0u8; 1000];
    let mut stored = 0;
    let mut last = Stored;
    for i in 0..5000 {
        last = s.store(
            Set,
            format!("k{i}").as_bytes(),
            0,
            if i == 0 { 2 } else { 0 },
            &v,
        );
        if last != Stored {
            break;
        }
        stored += 1;
    }
    assert_eq!(last, OutOfMemory);
    assert!(stored > 1500);
    let st = s.stats();
    assert_eq!((st.evictions, st.outofmemory), (0, 1));
    assert!(s.get(b"k0").is_some());
    // Expired items are still reclaimed under -M.
    advance(&mut s, 2);
    assert_eq!(s.store(Set, b"other", 0, 0, &v), Stored);
    assert_eq!(s.store(Set, b"more", 0, 0, &v), OutOfMemory);
}

#[test]
fn eviction_accounting_is_exact() {
    let mut s = store_with(StoreConfig {
        mem_limit: 4 << 20,
        ..Default::default()
    });
    let n = 200_000u64;
    for i in 0..n {
        assert_eq!(
            s.store(Set, &i.to_le_bytes(), 0, 0, b"some value bytes"),
            Stored
        );
    }
    let st = s.stats();
    assert!(st.total_pages <= 4);
    assert_eq!(st.curr_items + st.evictions, n);
    assert_eq!(st.evicted_unfetched, st.evictions);
    let present = (0..n).filter(|i| s.get(&i.to_le_bytes()).is_some()).count() as u64;
    assert_eq!(present, st.curr_items);
    let bytes: u64 = s.class_stats().iter().map(|c| c.mem_requested).sum();
    assert_eq!(bytes, st.bytes);
}

#[test]
fn active_items_are_rescued() {
    let mut s = store_with(StoreConfig {
        mem_limit: 2 << 20,
        ..Default::default()
    });
    s.store(Set, b"hot", 0, 0, b"v");
    for i in 0..100_000u64 {
        s.store(Set, &i.to_le_bytes(), 0, 0, b"v");
        if i % 1000 == 0 {
            assert!(s.get(b"hot").is_some(), "hot key evicted at {i}");
        }
    }
    assert!(s.stats().evictions > 50_000);
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
    assert_eq!(
        (st.curr_items, st.reclaimed, st.expired_unfetched),
        (500, 501, 501)
    );
    assert_eq!(s.reclaim_step(1000), 0);
}

#[test]
fn calcification_is_prevented_by_page_moves() {
    let mut s = store_with(StoreConfig {
        mem_limit: 16 << 20,
        ..Default::default()
    });
    let small = vec![1u8; 100];
    let mut i = 0u64;
    while s.stats().evictions == 0 {
        s.store(Set, format!("s{i}").as_bytes(), 0, 0, &small);
        i += 1;
    }
    let small_class = s.mem.slab.class_for(item::total_len(8, 100, 0));
    assert!(s.mem.slab.classes[small_class].pages >= 15);
    let big = vec![2u8; 5000];
    for j in 0..20_000u64 {
        s.set_clock(T0 + 1000 + j);
        assert_eq!(s.store(Set, format!("b{j}").as_bytes(), 0, 0, &big), Stored);
        // The last writes of the big class are always readable.
        if j >= 1 {
            assert!(s.get(format!("b{}", j - 1).as_bytes()).is_some());
        }
    }
    let big_class = s.mem.slab.class_for(item::total_len(6, 5000, 0));
    let (sp, bp) = (
        s.mem.slab.classes[small_class].pages,
        s.mem.slab.classes[big_class].pages,
    );
    assert!(bp >= 14 && sp <= 2, "small {sp} pages, big {bp} pages");
    let st = s.stats();
    assert!(st.slabs_moved >= 13);
    assert!(st.total_pages <= 16);
    let cs = s.class_stats();
    assert_eq!(cs.iter().map(|c| c.items).sum::<u64>(), st.curr_items);
}

#[test]
fn page_move_relocates_live_items_into_holes() {
    let mut s = store_with(StoreConfig {
        mem_limit: 4 << 20,
        ..Default::default()
    });
    let small = s.mem.slab.class_for(item::total_len(8, 100, 0));
    let per = s.mem.slab.classes[small].per_page as u64;
    let n = 4 * per;
    for i in 0..n {
        s.set_clock(T0 + i);
        assert_eq!(
            s.store(Set, format!("s{i:07}").as_bytes(), 0, 0, &[1u8; 100]),
            Stored
        );
    }
    assert_eq!((s.stats().total_pages, s.stats().evictions), (4, 0));
    for i in (0..n).step_by(2) {
        assert!(s.delete(format!("s{i:07}").as_bytes()));
    }
    // The big class has no page: it takes the page of the small class's oldest item, whose
    // live items move into the holes elsewhere instead of being evicted.
    assert_eq!(s.store(Set, b"big", 0, 0, &[2u8; 5000]), Stored);
    let st = s.stats();
    assert_eq!(
        (st.slabs_moved, st.evictions, st.curr_items),
        (1, 0, n / 2 + 1)
    );
    for i in (1..n).step_by(2) {
        let v = s.get(format!("s{i:07}").as_bytes()).unwrap();
        assert_eq!(v.value, &[1u8; 100][..]);
    }
    assert_eq!(s.mem.slab.classes[small].pages, 3);
    assert_eq!(s.reclaim_step(10_000), 0);
    let cs = s.class_stats();
    let sc = cs.iter().find(|c| c.id == small as u64 + 1).unwrap();
    assert_eq!(sc.used_chunks + sc.free_chunks, sc.total_chunks);
    assert_eq!(sc.items, n / 2);
}

#[test]
fn memory_target_9_byte_keys_100_byte_values() {
    let mut s = store_with(StoreConfig {
        mem_limit: 32 << 20,
        ..Default::default()
    });
    for i in 0..400_000u32 {
        let key = format!("k{i:08}");
        assert_eq!(key.len(), 9);
        assert_eq!(s.store(Set, key.as_bytes(), 0, 0, &[b'x'; 100]), Stored);
    }
    let st = s.stats();
    println!(
        "kept {} of 400000 items in 32 MiB: {:.1} bytes of slab per item, index {} bytes",
        st.curr_items,
        (32u64 << 20) as f64 / st.curr_items as f64,
        st.hash_bytes
    );
    assert!(st.curr_items >= 215_700, "kept {}", st.curr_items);
    assert_eq!(st.curr_items + st.evictions, 400_000);
}

#[test]
fn mutation_log() {
    let mut s = st();
    s.store(Set, b"x", 0, 0, b"1");
    assert!(s.drain_mutations().is_empty());
    s.set_mutation_log(true);
    s.store(Set, b"k", 2, 100, b"5");
    s.incr_decr(b"k", true, 5);
    s.store(Append, b"k", 0, 0, b"0");
    s.touch(b"k", 0);
    s.delete(b"k");
    s.store(Add, b"x", 0, 0, b"1"); // not stored, not logged
    s.flush_all(0);
    let m = s.drain_mutations();
    assert_eq!(m.len(), 6);
    let exp = (T0 / 1000) as u32 + 100;
    match &m[2] {
        Mutation::Set {
            key,
            value,
            flags,
            exptime,
            ..
        } => {
            assert_eq!(
                (&key[..], &value[..], *flags, *exptime),
                (&b"k"[..], &b"100"[..], 2, exp)
            );
        }
        other => panic!("{other:?}"),
    }
    match &m[3] {
        Mutation::Set { exptime, .. } => assert_eq!(*exptime, 0),
        other => panic!("{other:?}"),
    }
    assert!(matches!(m[4], Mutation::Delete { .. }));
    assert!(matches!(m[5], Mutation::Flush { .. }));
    let mut last = 0;
    for x in &m {
        let v = match x {
            Mutation::Set { version, .. } | Mutation::Delete { version, .. } => *version,
            Mutation::Flush { before_version, .. } => *before_version,
        };
        assert!(v >= last);
        last = v;
    }
}

#[test]
fn stats_reset_and_class_stats() {
    let mut s = st();
    s.store(Set, b"a", 0, 0, b"1");
    s.get(b"a");
    s.reset_stats();
    let st = s.stats();
    assert_eq!(
        (st.cmd_get, st.cmd_set, st.get_hits, st.total_items),
        (0, 0, 0, 0)
    );
    assert_eq!(st.curr_items, 1);
    assert_eq!(st.limit_bytes, 64 << 20);
    // 4096 buckets of 12 slots.
    assert_eq!(st.hash_power_level, 12);
    let cs = s.class_stats();
    assert_eq!(cs.len(), 1);
    assert_eq!(
        (cs[0].id, cs[0].chunk_size, cs[0].items, cs[0].total_pages),
        (1, 48, 1, 1)
    );
    assert_eq!(cs[0].used_chunks + cs[0].free_chunks, cs[0].total_chunks);
}

#[test]
fn bad_keys_are_not_stored() {
    let mut s = st();
    assert_eq!(s.store(Set, b"", 0, 0, b"v"), NotStored);
    assert_eq!(s.store(Set, &[b'k'; 251], 0, 0, b"v"), NotStored);
    assert_eq!(s.store(Set, &[b'k'; 250], 0, 0, b"v"), Stored);
    assert!(s.get(&[b'k'; 250]).is_some());
}

/// A rough get-path timing without criterion: `QN=100000 cargo test --release --lib
/// quick_perf -- --ignored --nocapture`.
#[test]
#[ignore]
fn quick_perf() {
    let n: usize = std::env::var("QN")
        .map(|v| v.parse().unwrap())
        .unwrap_or(100_000);
    let mut s = store_with(StoreConfig {
        mem_limit: 1 << 30,
        ..Default::default()
    });
    let keys: Vec<[u8; 16]> = (0..n)
        .map(|i| {
            let mut k = [b'k'; 16];
            k[2..].copy_from_slice(format!("{i:014}").as_bytes());
            k
        })
        .collect();
    for k in &keys {
        s.store(Set, k, 0, 0, &[b'v'; 32]);
    }
    let (max_chain, total, buckets) = s.mem.index.chain_stats(&s.mem.slab);
    println!("chains: max {max_chain} items {total} buckets {buckets}");
    let t = std::time::Instant::now();
    let mut hits = 0;
    for r in 0..std::env::var("QR")
        .map(|v| v.parse().unwrap())
        .unwrap_or(20)
    {
        for i in 0..n {
            let k = &keys[(i * 7919 + r) % n];
            hits += s.get(k).is_some() as usize;
        }
    }
    let el = t.elapsed();
    println!(
        "get: {:.1} ns/op hits {hits}",
        el.as_nanos() as f64 / (20 * n) as f64
    );
}

#[test]
fn get_batch_matches_get() {
    let mut a = st();
    let mut b = st();
    for i in 0..500u32 {
        let k = format!("key{i}");
        for s in [&mut a, &mut b] {
            s.store(Set, k.as_bytes(), i % 3, 0, format!("v{i}").as_bytes());
        }
    }
    // Hits, misses and repeats, in batches shorter and longer than the prefetch distance.
    let keys: Vec<String> = (0..700u32)
        .map(|i| format!("key{}", (i * 7) % 600))
        .collect();
    for len in [0, 1, 5, 16, 17, 33, 700] {
        let mut got = Vec::new();
        a.get_batch(&keys[..len], |i, v| {
            got.push((i, v.map(|v| (v.value.to_vec(), v.flags, v.cas))))
        });
        let want: Vec<_> = keys[..len]
            .iter()
            .enumerate()
            .map(|(i, k)| {
                (
                    i,
                    b.get(k.as_bytes())
                        .map(|v| (v.value.to_vec(), v.flags, v.cas)),
                )
            })
            .collect();
        assert_eq!(got, want);
    }
    assert_eq!(a.stats(), b.stats());
}

#[test]
fn overwrites_in_a_full_store_reuse_their_chunk() {
    let mut s = store_with(StoreConfig {
        mem_limit: 1 << 20,
        ..Default::default()
    });
    let k = |i: u32| format!("k{i:05}");
    let mut n = 0;
    while s.stats().evictions == 0 {
        s.store(Set, k(n).as_bytes(), 0, 0, &[b'x'; 20]);
        n += 1;
    }
    // The first overwrite evicts the tail for a chunk it then does not need ...
    assert_eq!(s.store(Set, k(5).as_bytes(), 0, 0, &[b'y'; 20]), Stored);
    let st = s.stats();
    assert_eq!((st.evictions, st.curr_items), (2, n as u64 - 2));
    // ... which the next writes use: overwrites in place, then one new key.
    assert_eq!(s.store(Set, k(6).as_bytes(), 7, 0, &[b'z'; 20]), Stored);
    assert_eq!(s.store(Set, b"n00001", 0, 0, &[b'x'; 20]), Stored);
    let st2 = s.stats();
    assert_eq!((st2.evictions, st2.curr_items), (2, n as u64 - 1));
    // k6 grew by its 4 flag bytes; n00001 is one more item of the common size.
    assert_eq!(st2.bytes, st.bytes + 4 + (item::HDR + 6 + 20) as u64);
    // Rewritten items moved to the head: the next evictions take k2 and k3, not k5 or k6.
    s.store(Set, b"n00002", 0, 0, &[b'x'; 20]);
    s.store(Set, b"n00003", 0, 0, &[b'x'; 20]);
    assert_eq!(s.stats().evictions, 4);
    assert_eq!(val(&mut s, k(2).as_bytes()), None);
    assert_eq!(val(&mut s, k(4).as_bytes()), Some(vec![b'x'; 20]));
    assert_eq!(val(&mut s, k(5).as_bytes()), Some(vec![b'y'; 20]));
    let v = s.get(k(6).as_bytes()).unwrap();
    assert_eq!((v.value, v.flags), (&[b'z'; 20][..], 7));
}
