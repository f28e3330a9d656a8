//! Executes one op against the shard's own store and says what happened, in no protocol's
//! words. Used for local keys by connections and for remote batches by the owner, so both
//! paths answer identically; the asking front end renders the outcome.

use crate::protocol::op::{
    Arith, ArithInit, Item, MetaArgs, MetaCmd, MetaDebug, MetaError, MetaHit, MetaOutcome,
    MetaStatus, MetaTimes, Op, Outcome, Removed, StoreKind, Stored,
};
use crate::protocol::text::render;
use crate::record;
use crate::stats::ConnCounters;
use crate::storage::{
    DeleteResult, DeltaResult, ItemView, MetaArithResult, MetaDeleteResult, MetaGetReq, MetaItem,
    MetaTtl, Store, StoreMode, StoreResult,
};

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
            let (r, cas) = store.store_versioned(mode(kind), key, flags, i64::from(exptime), value);
            if r == StoreResult::OutOfMemory {
                ConnCounters::add(&counters.store_no_memory, 1);
            }
            Outcome::Stored {
                result: stored(r),
                cas,
            }
        }
        Op::TooLarge { kind, key } => {
            ConnCounters::add(&counters.store_too_large, 1);
            store.reject_too_large(mode(kind), key);
            Outcome::Stored {
                result: Stored::TooLarge,
                cas: 0,
            }
        }
        Op::Delete { key, cas } => Outcome::Deleted(delete(store, key, cas)),
        Op::Arith {
            incr,
            key,
            delta,
            init,
            cas,
        } => Outcome::Arith(arith(store, (incr, key, delta), init, cas)),
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
        Op::Apply(rec) => apply(store, rec),
        Op::MemLimit { bytes } => mem_limit(store, bytes),
        Op::Crawl { classes, tocrawl } => {
            // The shard's reclaim task runs the job's steps (server/runtime.rs).
            store.start_crawl(classes, tocrawl);
            Outcome::Done
        }
        Op::Dump { .. } | Op::CacheDump { .. } => dump_step(store, op, scratch),
        Op::Meta {
            cmd,
            key,
            args,
            value,
        } => Outcome::Meta(meta(store, counters, cmd, key, &args, value)),
    }
}

/// One step of a metadump or a cachedump, its lines in `scratch`.
fn dump_step<'s>(store: &mut Store, op: Op<'_>, scratch: &'s mut Vec<u8>) -> Outcome<'s> {
    scratch.clear();
    let resume = match op {
        Op::Dump { classes, cursor } => metadump_step(store, classes, cursor, scratch),
        Op::CacheDump { class, max, cursor } => cachedump_step(store, class, max, cursor, scratch),
        _ => None,
    };
    Outcome::Lines {
        text: scratch,
        resume,
    }
}

/// A twin's write forwarded by the shard whose link received it.
fn apply<'s>(store: &mut Store, rec: &[u8]) -> Outcome<'s> {
    match record::decode_record(rec) {
        Ok((_, m)) => {
            store.apply_remote(m);
        }
        Err(e) => tracing::error!("dropped a malformed forwarded record: {e}"),
    }
    Outcome::Done
}

/// This shard's share of a new `cache_memlimit`.
fn mem_limit<'s>(store: &mut Store, bytes: u64) -> Outcome<'s> {
    // Checked by the front end against the shard count, so it always fits here.
    if let Err(e) = store.set_mem_limit(bytes as usize) {
        tracing::warn!("cache_memlimit: {e}");
    }
    Outcome::Done
}

/// One meta command; mg's and me's answers borrow the item from the store.
fn meta<'s>(
    store: &'s mut Store,
    counters: &ConnCounters,
    cmd: MetaCmd,
    key: &[u8],
    a: &MetaArgs,
    value: &[u8],
) -> MetaOutcome<'s> {
    let ttl = MetaTtl {
        touch: a.touch.map(i64::from),
        vivify: a.vivify.map(i64::from),
        vivify_after_touch: a.vivify_after_touch,
    };
    match cmd {
        MetaCmd::Get => {
            let req = MetaGetReq {
                ttl,
                recache: a.recache.map(i64::from),
                touch_before_recache: a.touch_before_recache,
                bump: !a.no_bump && !a.opaque_error,
                no_win: a.opaque_error,
            };
            store
                .meta_get(key, &req)
                .map_or(MetaOutcome::Miss, |m| MetaOutcome::Hit(meta_hit(m)))
        }
        MetaCmd::Set if a.too_large => {
            ConnCounters::add(&counters.store_too_large, 1);
            store.reject_too_large(StoreMode::Set, key);
            MetaOutcome::Error(MetaError::TooLarge)
        }
        MetaCmd::Set => meta_set(store, counters, key, a, value),
        MetaCmd::Delete => {
            let status = match store.meta_delete(key, a.cas, a.stale, ttl.touch) {
                MetaDeleteResult::Deleted => MetaStatus::Stored,
                MetaDeleteResult::NotFound => return MetaOutcome::Miss,
                MetaDeleteResult::Exists => MetaStatus::Exists,
            };
            MetaOutcome::Status { status, cas: 0 }
        }
        MetaCmd::Arith => meta_arith(store, key, a, &ttl),
        MetaCmd::Debug => store.meta_debug(key).map_or(MetaOutcome::Miss, |m| {
            let t = m.times;
            MetaOutcome::Debug(MetaDebug {
                key: m.view.key,
                binary: m.binary,
                exp: if t.exp == 0 {
                    -1
                } else {
                    t.now.wrapping_sub(t.exp) as i32
                },
                idle: m.idle,
                cas: m.view.cas,
                fetched: m.fetched,
                class: m.class,
                size: m.size,
            })
        }),
    }
}

fn meta_set<'s>(
    store: &'s mut Store,
    counters: &ConnCounters,
    key: &[u8],
    a: &MetaArgs,
    value: &[u8],
) -> MetaOutcome<'s> {
    let mode = match a.mode {
        b'E' => StoreMode::Add,
        b'A' => StoreMode::Append,
        b'P' => StoreMode::Prepend,
        b'R' => StoreMode::Replace,
        _ => StoreMode::Set,
    };
    let exptime = i64::from(a.touch.unwrap_or(0));
    let (r, cas) = store.meta_set(mode, a.cas, key, a.flags, exptime, value, a.stale, a.binary);
    let status = match r {
        StoreResult::Stored => MetaStatus::Stored,
        StoreResult::Exists => MetaStatus::Exists,
        StoreResult::NotFound => MetaStatus::NotFound,
        StoreResult::NotStored => MetaStatus::NotStored,
        StoreResult::TooLarge => return MetaOutcome::Error(MetaError::TooLarge),
        StoreResult::OutOfMemory => {
            ConnCounters::add(&counters.store_no_memory, 1);
            return MetaOutcome::Error(MetaError::OutOfMemory);
        }
    };
    MetaOutcome::Status { status, cas }
}

fn meta_arith<'s>(
    store: &'s mut Store,
    key: &[u8],
    a: &MetaArgs,
    ttl: &MetaTtl,
) -> MetaOutcome<'s> {
    let incr = !matches!(a.mode, b'D' | b'-');
    match store.meta_arith(key, incr, a.delta, a.cas, a.initial, ttl) {
        MetaArithResult::Value { value, cas, times } => MetaOutcome::Counter {
            value,
            cas,
            times: meta_times(times),
        },
        MetaArithResult::NotFound => MetaOutcome::Miss,
        MetaArithResult::Exists => MetaOutcome::Status {
            status: MetaStatus::Exists,
            cas: 0,
        },
        MetaArithResult::NonNumeric => MetaOutcome::Error(MetaError::NonNumeric),
        MetaArithResult::OutOfMemory => MetaOutcome::Error(MetaError::OutOfMemory),
        MetaArithResult::VivifyOutOfMemory => MetaOutcome::Error(MetaError::VivifyOutOfMemory),
    }
}

fn meta_times(t: crate::storage::MetaTimes) -> MetaTimes {
    MetaTimes {
        now: t.now,
        exp: t.exp,
        exp_touch: t.exp_touch,
        exp_vivify: t.exp_vivify,
        created: t.created,
    }
}

fn meta_hit(m: MetaItem<'_>) -> MetaHit<'_> {
    MetaHit {
        item: item_of(m.view),
        times: meta_times(m.times),
        idle: m.idle,
        fetched: m.fetched,
        token_sent: m.token_sent,
        stale: m.stale,
        won: m.won,
        binary: m.binary,
    }
}

fn delete(store: &mut Store, key: &[u8], cas: u64) -> Removed {
    match store.delete_cas(key, cas) {
        DeleteResult::Deleted => Removed::Deleted,
        DeleteResult::NotFound => Removed::NotFound,
        DeleteResult::Exists => Removed::Exists,
    }
}

fn arith(
    store: &mut Store,
    (incr, key, delta): (bool, &[u8], u64),
    init: Option<ArithInit>,
    cas: u64,
) -> Arith {
    let init = init.map(|i| (i.value, i64::from(i.exptime)));
    match store.arith(key, incr, delta, init, cas) {
        (DeltaResult::Value(value), cas) => Arith::Value { value, cas },
        (DeltaResult::NotFound, _) => Arith::NotFound,
        (DeltaResult::NonNumeric, _) => Arith::NonNumeric,
        (DeltaResult::OutOfMemory, _) => Arith::OutOfMemory,
        (DeltaResult::Exists, _) => Arith::Exists,
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
        StoreKind::AppendCas(c) => StoreMode::AppendCas(c),
        StoreKind::PrependCas(c) => StoreMode::PrependCas(c),
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
