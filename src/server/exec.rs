//! Executes one op against the shard's own store and says what happened, in no protocol's
//! words. Used for local keys by connections and for remote batches by the owner, so both
//! paths answer identically; the asking front end renders the outcome.

use crate::protocol::op::{Arith, Item, Op, Outcome, StoreKind, Stored};
use crate::protocol::text::render;
use crate::record;
use crate::stats::ConnCounters;
use crate::storage::{DeltaResult, ItemView, Store, StoreMode, StoreResult};

/// Runs `op`. `Stats` is answered by the caller (it needs shard state); `Dump` writes its
/// lines into `scratch`, which the outcome then borrows.
pub fn execute<'s>(
    store: &'s mut Store,
    counters: &ConnCounters,
    op: Op<'_>,
    scratch: &'s mut Vec<u8>,
) -> Outcome<'s> {
    match op {
        Op::Get { key, touch } => {
            let item = match touch {
                Some(exptime) => store.get_and_touch(key, i64::from(exptime)),
                None => store.get(key),
            };
            item.map_or(Outcome::Miss, |it| Outcome::Hit(item_of(it)))
        }
        Op::Store {
            kind,
            key,
            flags,
            exptime,
            value,
        } => {
            let r = store.store(mode(kind), key, flags, i64::from(exptime), value);
            if r == StoreResult::OutOfMemory {
                ConnCounters::add(&counters.store_no_memory, 1);
            }
            Outcome::Stored(stored(r))
        }
        Op::TooLarge { kind, key } => {
            ConnCounters::add(&counters.store_too_large, 1);
            store.reject_too_large(mode(kind), key);
            Outcome::Stored(Stored::TooLarge)
        }
        Op::Delete { key } => Outcome::Deleted(store.delete(key)),
        Op::Arith { incr, key, delta } => Outcome::Arith(match store.incr_decr(key, incr, delta) {
            DeltaResult::Value(v) => Arith::Value(v),
            DeltaResult::NotFound => Arith::NotFound,
            DeltaResult::NonNumeric => Arith::NonNumeric,
            DeltaResult::OutOfMemory => Arith::OutOfMemory,
        }),
        Op::Touch { key, exptime } => Outcome::Touched(store.touch(key, i64::from(exptime))),
        Op::Flush { delay } => {
            store.flush_all(i64::from(delay));
            Outcome::Done
        }
        Op::Stats => Outcome::Done,
        Op::ResetStats => {
            store.reset_stats();
            counters.reset();
            Outcome::Done
        }
        Op::Apply(rec) => {
            match record::decode_record(rec) {
                Ok((_, m)) => {
                    store.apply_remote(m);
                }
                Err(e) => tracing::error!("dropped a malformed forwarded record: {e}"),
            }
            Outcome::Done
        }
        Op::MemLimit { bytes } => {
            // Checked by the front end against the shard count, so it always fits here.
            if let Err(e) = store.set_mem_limit(bytes as usize) {
                tracing::warn!("cache_memlimit: {e}");
            }
            Outcome::Done
        }
        Op::Dump { classes } => {
            scratch.clear();
            write_metadump(store, classes, scratch);
            Outcome::Lines(scratch)
        }
    }
}

fn item_of(it: ItemView<'_>) -> Item<'_> {
    Item {
        key: it.key,
        flags: it.flags,
        value: it.value,
        cas: it.cas,
    }
}

fn mode(kind: StoreKind) -> StoreMode {
    match kind {
        StoreKind::Set => StoreMode::Set,
        StoreKind::Add => StoreMode::Add,
        StoreKind::Replace => StoreMode::Replace,
        StoreKind::Append => StoreMode::Append,
        StoreKind::Prepend => StoreMode::Prepend,
        StoreKind::Cas(c) => StoreMode::Cas(c),
    }
}

fn stored(r: StoreResult) -> Stored {
    match r {
        StoreResult::Stored => Stored::Stored,
        StoreResult::NotStored => Stored::NotStored,
        StoreResult::Exists => Stored::Exists,
        StoreResult::NotFound => Stored::NotFound,
        StoreResult::TooLarge => Stored::TooLarge,
        StoreResult::OutOfMemory => Stored::OutOfMemory,
    }
}

/// `lru_crawler metadump` lines for the live items of the classes in the mask. `la` is the
/// last write time: items here keep no separate access time.
fn write_metadump(store: &Store, classes: u64, out: &mut Vec<u8>) {
    let mut metas = Vec::with_capacity(1024);
    let mut cursor = Some(0);
    while let Some(c) = cursor {
        metas.clear();
        cursor = store.scan_meta(c, 1024, &mut metas);
        for m in metas
            .iter()
            .filter(|m| m.class <= 64 && classes & (1 << (m.class - 1)) != 0)
        {
            let exp = if m.exptime == 0 {
                -1
            } else {
                i64::from(m.exptime)
            };
            let entry = render::DumpEntry {
                key: &m.key,
                exp,
                last_access: (m.cas >> 20) / 1000,
                cas: m.cas,
                fetched: m.fetched,
                class: m.class,
                size: m.size,
            };
            render::metadump_line(out, &entry);
        }
    }
}
