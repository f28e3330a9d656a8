//! Executes one op against the shard's own store and says what happened, in no protocol's
//! words. Used for local keys by connections and for remote batches by the owner, so both
//! paths answer identically; the asking front end renders the outcome.

use crate::protocol::op::{Arith, Item, Op, Outcome, StoreKind, Stored};
use crate::protocol::text::render;
use crate::record;
use crate::stats::ConnCounters;
use crate::storage::{DeltaResult, ItemView, Store, StoreMode, StoreResult};

/// Items one step of `lru_crawler metadump` or `stats cachedump` lists at most (a metadump
/// step also examines at most 8 chunks per item): about 0.2-0.5 ms of a shard's time, after
/// which the connection writes the lines and the shard serves others.
pub const DUMP_STEP: usize = 2_000;

/// Runs `op`. `Stats` is answered by the caller (it needs shard state); a dump step writes
/// its lines into `scratch`, which the outcome then borrows.
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
        Op::Dump { classes, cursor } => {
            scratch.clear();
            let resume = metadump_step(store, classes, cursor, scratch);
            Outcome::Lines {
                text: scratch,
                resume,
            }
        }
        Op::CacheDump { class, max, cursor } => {
            scratch.clear();
            let resume = cachedump_step(store, class, max, cursor, scratch);
            Outcome::Lines {
                text: scratch,
                resume,
            }
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

/// One step of `lru_crawler metadump`: the lines of at most [`DUMP_STEP`] live items of the
/// classes in the mask, from `cursor`; returns the next step's cursor. `la` is the last
/// write time: items here keep no separate access time.
pub fn metadump_step(store: &Store, classes: u64, cursor: u64, out: &mut Vec<u8>) -> Option<u64> {
    let mut metas = Vec::with_capacity(DUMP_STEP);
    let next = store.scan_meta(cursor, classes, DUMP_STEP, &mut metas);
    for m in &metas {
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
    next
}

/// One step of `stats cachedump` for class id `class` (1-based; 0 lists nothing, as in
/// memcached).
pub fn cachedump_step(
    store: &mut Store,
    class: u32,
    max: u32,
    cursor: u64,
    out: &mut Vec<u8>,
) -> Option<u64> {
    let c = (class as usize).checked_sub(1)?;
    let mut items = Vec::with_capacity((max as usize).min(DUMP_STEP));
    let next = store.cachedump_step(c, cursor, (max as usize).min(DUMP_STEP), &mut items);
    for it in &items {
        render::cachedump_line(out, &it.key, it.value_len, it.exptime);
    }
    next
}
