//! Dumps a step at a time: metadump's arena scan, cachedump's LRU walk and a full copy's
//! tombstones, each resumed after the store changed between steps.

use super::*;
use crate::record::{self, MutationRef};
use std::collections::HashSet;

fn keys_of(metas: &[ItemMeta]) -> Vec<String> {
    metas
        .iter()
        .map(|m| String::from_utf8(m.key.clone()).unwrap())
        .collect()
}

#[test]
fn metadump_steps_list_each_item_of_the_asked_classes_once() {
    let mut s = st();
    for i in 0..3000 {
        let v = if i % 3 == 0 {
            vec![b'v'; 300]
        } else {
            vec![b'v'; 4]
        };
        s.store(Set, format!("k{i}").as_bytes(), 0, 0, &v);
    }
    let small = s.mem.slab.class_for(item::total_len(5, 4, 0)) as u32 + 1;
    let (mut cursor, mut seen, mut calls) = (Some(0), Vec::new(), 0);
    while let Some(c) = cursor {
        let mut metas = Vec::new();
        cursor = s.scan_meta(c, 1 << (small - 1), 100, &mut metas);
        assert!(metas.len() <= 100);
        assert!(metas.iter().all(|m| m.class == small));
        seen.extend(keys_of(&metas));
        calls += 1;
    }
    assert!(calls >= 20, "{calls} calls");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (2000, 2000));
}

#[test]
fn a_metadump_step_examines_a_bounded_number_of_chunks() {
    let mut s = st();
    for i in 0..20_000 {
        s.store(Set, format!("k{i}").as_bytes(), 0, 0, b"v");
    }
    for i in 1..20_000 {
        s.delete(format!("k{i}").as_bytes());
    }
    // One live item in ~20k chunks: a step of 10 items may look at 80 chunks, so it ends
    // long before reaching it, and the steps still get there.
    let mut metas = Vec::new();
    let mut cursor = Some(0);
    let mut calls = 0;
    while let Some(c) = cursor {
        cursor = s.scan_meta(c, u64::MAX, 10, &mut metas);
        calls += 1;
    }
    assert_eq!(keys_of(&metas), vec!["k0".to_string()]);
    assert!(calls > 100, "{calls} calls");
}

#[test]
fn cachedump_resumes_where_it_stopped_whatever_changed() {
    let mut s = st();
    for i in 0..10 {
        s.store(Set, format!("k{i}").as_bytes(), 0, 0, b"v");
    }
    let c = s.mem.slab.class_for(item::total_len(2, 1, 0));
    let mut out = Vec::new();
    // Newest first: k9 k8 k7, and the mark is at k6.
    let m = s.cachedump_step(c, 0, 3, &mut out).unwrap();
    s.delete(b"k6");
    s.store(Set, b"k5", 0, 0, b"w");
    s.store(Set, b"new", 0, 0, b"v");
    let m2 = s.cachedump_step(c, m, 3, &mut out).unwrap();
    assert_eq!(m2, m);
    assert_eq!(s.cachedump_step(c, m, 100, &mut out), None);
    let keys: Vec<String> = out
        .iter()
        .map(|e| String::from_utf8(e.key.clone()).unwrap())
        .collect();
    // k6 went, k5 moved to the head (behind the walk) and "new" too.
    assert_eq!(keys, ["k9", "k8", "k7", "k4", "k3", "k2", "k1", "k0"]);
    assert!(out.iter().all(|e| e.value_len == 1 && e.exptime == 0));
    // A finished walk's mark is released.
    assert_eq!(s.cachedump_step(c, m, 3, &mut out), None);
    assert_eq!(s.cachedump_step(s.mem.lru.classes(), 0, 3, &mut out), None);
}

#[test]
fn a_full_copy_lists_tombstones_a_step_at_a_time() {
    let mut s = st();
    s.set_tombstone_ttl(60);
    s.set_mutation_log(true);
    for i in 0..1000 {
        s.store(Set, format!("k{i}").as_bytes(), 0, 0, b"v");
    }
    for i in 0..700 {
        s.delete(format!("k{i}").as_bytes());
    }
    let (mut cursor, mut all, mut calls) = (Some(0), Vec::new(), 0);
    while let Some(c) = cursor {
        let before = all.len();
        let (next, _) = s.scan(c, 100, 1 << 20, &mut all);
        let records = record::records(&all[before..]).count();
        assert!(records <= 100, "{records} records in one call");
        cursor = next;
        calls += 1;
    }
    assert!(calls >= 10, "{calls} calls");
    let (mut sets, mut deletes) = (HashSet::new(), HashSet::new());
    for (_, m) in record::records(&all) {
        match m {
            MutationRef::Set { key, .. } => assert!(sets.insert(key.to_vec())),
            MutationRef::Delete { key, .. } => assert!(deletes.insert(key.to_vec())),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((sets.len(), deletes.len()), (300, 700));
}
