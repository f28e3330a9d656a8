//! Memory: item size limits, eviction and its accounting, active-item rescue, page moves, -M.

use super::*;

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

#[test]
fn a_new_memory_limit_shrinks_at_once_and_grows_later() {
    let mut s = store_with(StoreConfig {
        mem_limit: 3 << 20,
        page_size: 64 << 10,
        ..Default::default()
    });
    let value = vec![b'v'; 60_000];
    let key = |i: usize| format!("k{i}").into_bytes();
    for i in 0..200 {
        assert_eq!(s.store(Set, &key(i), 0, 0, &value), Stored);
    }
    let full = s.stats();
    assert!(full.evictions > 0 && full.total_pages <= 48, "{full:?}");
    s.set_mem_limit(1 << 20).unwrap();
    let shrunk = s.stats();
    assert!(shrunk.total_pages <= 16, "{shrunk:?}");
    assert!(shrunk.curr_items < full.curr_items);
    assert_eq!(shrunk.limit_bytes, 1 << 20);
    // The newest items stay readable; growing past the first limit takes new pages.
    assert_eq!(val(&mut s, &key(199)).as_deref(), Some(&value[..]));
    s.set_mem_limit(8 << 20).unwrap();
    let evicted = s.stats().evictions;
    for i in 200..300 {
        assert_eq!(s.store(Set, &key(i), 0, 0, &value), Stored);
    }
    let grown = s.stats();
    assert_eq!(grown.evictions, evicted);
    assert!(grown.total_pages > 48, "{grown:?}");
    assert!((200..300).all(|i| val(&mut s, &key(i)).is_some()));
}
