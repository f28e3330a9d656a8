//! The commands' answers and counters: set/get/add/replace/append/prepend, cas, incr/decr, delete, batched gets.

use super::*;

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
fn bad_keys_are_not_stored() {
    let mut s = st();
    assert_eq!(s.store(Set, b"", 0, 0, b"v"), NotStored);
    assert_eq!(s.store(Set, &[b'k'; 251], 0, 0, b"v"), NotStored);
    assert_eq!(s.store(Set, &[b'k'; 250], 0, 0, b"v"), Stored);
    assert!(s.get(&[b'k'; 250]).is_some());
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

/// The calls binary and meta need: the CAS a write gave, incr creating on a miss, and a
/// delete that checks the CAS.
#[test]
fn versioned_writes_arith_init_and_delete_cas() {
    let mut s = st();
    let (r, c) = s.store_versioned(Set, b"k", 0, 0, b"v");
    assert_eq!((r, c), (Stored, cas_of(&mut s, b"k")));
    assert_eq!(s.store_versioned(Add, b"k", 0, 0, b"v"), (NotStored, 0));
    assert_eq!(s.delete_cas(b"k", c + 1), DeleteResult::Exists);
    assert_eq!(s.stats().delete_hits + s.stats().delete_misses, 0);
    assert_eq!(s.delete_cas(b"k", c), DeleteResult::Deleted);
    assert_eq!(s.delete_cas(b"k", c), DeleteResult::NotFound);

    assert_eq!(s.arith(b"n", true, 5, None), (DeltaResult::NotFound, 0));
    let (r, c) = s.arith(b"n", true, 5, Some((10, 0)));
    assert_eq!((r, c), (DeltaResult::Value(10), cas_of(&mut s, b"n")));
    assert_eq!(val(&mut s, b"n").unwrap(), b"10");
    assert_eq!(s.get(b"n").unwrap().flags, 0);
    let (r, c2) = s.arith(b"n", false, 3, Some((99, 0)));
    assert_eq!((r, c2), (DeltaResult::Value(7), cas_of(&mut s, b"n")));
    assert!(c2 > c);
    assert_eq!(s.stats().incr_misses, 1);
}
