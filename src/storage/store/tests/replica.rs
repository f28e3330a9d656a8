//! The replication side: applying a twin's writes by version, tombstones, full-copy scans.

use super::*;
use crate::record::{self, Mutation, MutationRef};

fn store() -> Store {
    let mut s = Store::new(StoreConfig {
        mem_limit: 64 << 20,
        ..StoreConfig::default()
    })
    .unwrap();
    s.set_clock(1_700_000_000_000);
    s.set_tombstone_ttl(60);
    s
}

fn set(key: &str, value: &str, version: u64) -> Mutation {
    Mutation::Set {
        key: key.into(),
        value: value.into(),
        flags: 0,
        exptime: 0,
        version,
    }
}

fn value(s: &mut Store, key: &str) -> Option<Vec<u8>> {
    s.get(key.as_bytes()).map(|v| v.value.to_vec())
}

#[test]
fn higher_version_wins_in_any_order() {
    let v = 1_700_000_000_000u64 << 20;
    let (old, new) = (set("k", "old", v + 0x101), set("k", "new", v + 0x202));
    let mut a = store();
    assert!(a.apply_remote(&old));
    assert!(a.apply_remote(&new));
    let mut b = store();
    assert!(b.apply_remote(&new));
    assert!(!b.apply_remote(&old));
    assert_eq!(value(&mut a, "k"), value(&mut b, "k"));
    assert_eq!(value(&mut a, "k").unwrap(), b"new");
}

#[test]
fn equal_versions_break_ties_the_same_way_everywhere() {
    let v = 1_700_000_000_000u64 << 20;
    let (x, y) = (set("k", "x", v), set("k", "y", v));
    let mut a = store();
    a.apply_remote(&x);
    a.apply_remote(&y);
    let mut b = store();
    b.apply_remote(&y);
    b.apply_remote(&x);
    assert_eq!(value(&mut a, "k"), value(&mut b, "k"));
}

#[test]
fn local_writes_after_a_remote_one_get_higher_versions() {
    let mut s = store();
    let far = (1_800_000_000_000u64 << 20) | 7;
    s.apply_remote(&set("k", "remote", far));
    s.set_mutation_log(true);
    assert_eq!(
        s.store(StoreMode::Set, b"k", 0, 0, b"local"),
        crate::storage::StoreResult::Stored
    );
    let muts = s.drain_mutations();
    let Mutation::Set { version, .. } = &muts[0] else {
        panic!()
    };
    assert!(*version > far);
}

#[test]
fn tombstone_blocks_an_older_write() {
    let mut s = store();
    let v = 1_700_000_000_000u64 << 20;
    s.apply_remote(&set("k", "a", v + 0x100));
    assert!(s.apply_remote(&Mutation::Delete {
        key: b"k".to_vec(),
        version: v + 0x300
    }));
    assert!(!s.apply_remote(&set("k", "stale", v + 0x200)));
    assert_eq!(value(&mut s, "k"), None);
    assert!(s.apply_remote(&set("k", "fresh", v + 0x400)));
    assert_eq!(value(&mut s, "k").unwrap(), b"fresh");
    // a delete older than the live item is ignored
    assert!(!s.apply_remote(&Mutation::Delete {
        key: b"k".to_vec(),
        version: v + 0x350
    }));
}

#[test]
fn remote_writes_are_not_logged() {
    let mut s = store();
    s.set_mutation_log(true);
    s.apply_remote(&set("k", "v", 1 << 40));
    assert!(s.drain_mutations().is_empty());
}

#[test]
fn scan_visits_every_live_item_once_across_calls() {
    let mut s = store();
    for i in 0..5000 {
        s.store(
            StoreMode::Set,
            format!("key{i}").as_bytes(),
            0,
            0,
            &vec![b'x'; i % 700],
        );
    }
    s.store(StoreMode::Set, b"big", 0, 0, &vec![b'y'; 600_000]);
    s.delete(b"key7");
    let mut all = Vec::new();
    let mut cursor = Some(0);
    let mut calls = 0;
    while let Some(c) = cursor {
        let (next, _) = s.scan(c, 333, 20_000, &mut all);
        // Each call moves on, even one that found nothing in the chunks it may examine.
        assert!(next.is_none_or(|n| n > c), "{next:?} after {c}");
        cursor = next;
        calls += 1;
    }
    // ~1.7 MB of small values: the byte bound, not the item count, ends most chunks.
    assert!(calls > 60, "{calls} calls");
    let mut keys: Vec<Vec<u8>> = record::records(&all)
        .filter_map(|(_, m)| match m {
            MutationRef::Set { key, .. } => Some(key.to_vec()),
            _ => None,
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 5000, "4999 small items and the large one");
}

#[test]
fn tombstones_expire() {
    let mut s = store();
    s.record_tombstone(b"k", 5);
    assert_eq!(s.tombstone_count(), 1);
    s.set_clock(1_700_000_000_000 + 61_000);
    s.record_tombstone(b"other", 6);
    assert_eq!(s.tombstone_count(), 1);
}

#[test]
fn a_twins_delayed_flush_does_not_move_the_clock_and_hides_at_its_time() {
    let mut s = store();
    let now = 1_700_000_000_000u64;
    let at_ms = now + 3_600_000;
    s.apply_remote(&Mutation::Flush {
        before_version: at_ms << 20,
        at_unix_secs: (at_ms / 1000) as u32,
    });
    s.set_mutation_log(true);
    s.store(StoreMode::Set, b"k", 0, 0, b"v");
    let muts = s.drain_mutations();
    let Mutation::Set { version, .. } = &muts[0] else {
        panic!()
    };
    assert!(*version >> 20 < now + 1000, "the clock jumped to the flush");
    assert_eq!(value(&mut s, "k").unwrap(), b"v");
    s.set_clock(at_ms);
    assert_eq!(value(&mut s, "k"), None);
}
