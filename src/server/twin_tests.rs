//! apply_run: where each of a twin's writes ends up.

use super::*;
use crate::protocol::op::Op;
use crate::record::{self, MutationRef};
use crate::storage::{StoreConfig, StoreMode, hash_key, shard_of_hash};

fn set(key: &[u8]) -> MutationRef<'_> {
    MutationRef::Set {
        key,
        value: b"v\r\n",
        flags: 0,
        exptime: 0,
        version: 7,
    }
}

/// The twin's write an `Op::Apply` carries.
fn applied_record(op: Op<'_>) -> MutationRef<'_> {
    match op {
        Op::Apply(rec) => record::decode_record(rec).expect("a record").1,
        other => panic!("not an apply: {other:?}"),
    }
}

fn keys(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("key:{i}").into_bytes()).collect()
}

#[test]
fn writes_apply_on_their_owner_in_order() {
    let (shards, me) = (4, 1);
    let mut store = Store::new(StoreConfig::default()).unwrap();
    let mut batches: Vec<Batch> = (0..shards).map(|_| Batch::default()).collect();
    let keys = keys(100);
    let run: Vec<Incoming<'_>> = keys.iter().map(|k| Incoming::new(set(k))).collect();

    let applied = apply_run(&mut store, me, &mut batches, &run);

    let mine = keys
        .iter()
        .filter(|k| shard_of_hash(hash_key(k), shards) == me);
    assert_eq!(applied, mine.count() as u64);
    for k in &keys {
        let owner = shard_of_hash(hash_key(k), shards);
        assert_eq!(store.get(k).is_some(), owner == me, "{k:?}");
    }
    assert!(batches[me].is_empty());
    for (s, b) in batches.iter().enumerate().filter(|(s, _)| *s != me) {
        let sent: Vec<_> = b
            .ops()
            .map(|op| applied_record(op).key().unwrap().to_vec())
            .collect();
        let owned: Vec<_> = keys
            .iter()
            .filter(|k| shard_of_hash(hash_key(k), shards) == s)
            .cloned()
            .collect();
        assert_eq!(sent, owned, "shard {s}");
    }
}

#[test]
fn a_flush_goes_to_every_shard() {
    let (shards, me) = (3, 2);
    let mut store = Store::new(StoreConfig::default()).unwrap();
    let mut batches: Vec<Batch> = (0..shards).map(|_| Batch::default()).collect();
    store.store(StoreMode::Set, b"older", 0, 0, b"v");
    let older = store.get(b"older").expect("stored").cas;
    let flush = MutationRef::Flush {
        before_version: older + 1,
        at_unix_secs: 0,
    };
    let applied = apply_run(&mut store, me, &mut batches, &[Incoming::new(flush)]);
    assert_eq!(applied, 1);
    assert_eq!(
        store.get(b"older"),
        None,
        "the flush reached this shard's store"
    );
    assert!(batches[me].is_empty());
    for b in &batches[..me] {
        assert_eq!(b.len(), 1);
        assert_eq!(b.ops().map(applied_record).collect::<Vec<_>>(), vec![flush]);
    }
}

#[test]
fn one_shard_applies_everything_itself() {
    let mut store = Store::new(StoreConfig::default()).unwrap();
    let mut batches = vec![Batch::default()];
    let keys = keys(40);
    let run: Vec<Incoming<'_>> = keys.iter().map(|k| Incoming::new(set(k))).collect();
    assert_eq!(apply_run(&mut store, 0, &mut batches, &run), 40);
    assert!(batches[0].is_empty());
    assert!(keys.iter().all(|k| store.get(k).is_some()));
}
