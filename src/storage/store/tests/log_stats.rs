//! The mutation log and the stats a store reports, plus a rough get timing.

use super::*;

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
            Mutation::Set { version, .. }
            | Mutation::Delete { version, .. }
            | Mutation::Mark { version, .. } => *version,
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
