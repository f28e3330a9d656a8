//! Executes one operation against the shard's own store and writes memcached's reply bytes.
//! Used for local keys by connections and for remote batches by the request handler, so
//! both paths answer identically.

use super::router::OpRef;
use crate::protocol::response::{write_line, write_number, write_value};
use crate::stats::ConnCounters;
use crate::storage::{DeltaResult, Store, StoreResult};

/// Runs `op`; `Stats`/`ResetStats`/`Flush` are handled by the caller (they need shard state).
pub fn execute(store: &mut Store, counters: &ConnCounters, op: OpRef<'_>, out: &mut Vec<u8>) {
    match op {
        OpRef::Get { key, cas, touch } => {
            let item = match touch {
                Some(exptime) => store.get_and_touch(key, i64::from(exptime)),
                None => store.get(key),
            };
            if let Some(it) = item {
                write_value(out, it.key, it.flags, it.value, cas.then_some(it.cas));
            }
        }
        OpRef::Store {
            kind,
            key,
            flags,
            exptime,
            value,
            noreply,
        } => {
            let r = store.store(kind, key, flags, i64::from(exptime), value);
            if r == StoreResult::OutOfMemory {
                ConnCounters::add(&counters.store_no_memory, 1);
            }
            if !noreply {
                write_line(out, store_reply(r));
            }
        }
        OpRef::TooLarge { kind, key } => {
            ConnCounters::add(&counters.store_too_large, 1);
            store.reject_too_large(kind, key);
        }
        OpRef::Delete { key, noreply } => {
            let hit = store.delete(key);
            if !noreply {
                write_line(out, if hit { "DELETED" } else { "NOT_FOUND" });
            }
        }
        OpRef::Arith {
            incr,
            key,
            delta,
            noreply,
        } => {
            let r = store.incr_decr(key, incr, delta);
            if noreply {
                return;
            }
            match r {
                DeltaResult::Value(v) => write_number(out, v),
                DeltaResult::NotFound => write_line(out, "NOT_FOUND"),
                DeltaResult::NonNumeric => write_line(
                    out,
                    "CLIENT_ERROR cannot increment or decrement non-numeric value",
                ),
                DeltaResult::OutOfMemory => write_line(out, "SERVER_ERROR out of memory"),
            }
        }
        OpRef::Touch {
            key,
            exptime,
            noreply,
        } => {
            let hit = store.touch(key, i64::from(exptime));
            if !noreply {
                write_line(out, if hit { "TOUCHED" } else { "NOT_FOUND" });
            }
        }
        OpRef::Flush { delay } => store.flush_all(i64::from(delay)),
        OpRef::Stats => {}
        OpRef::Apply(m) => {
            store.apply_remote(m);
        }
        OpRef::Dump { classes } => write_metadump(store, classes, out),
        OpRef::ResetStats => {
            store.reset_stats();
            counters.reset();
        }
    }
}

pub fn store_reply(r: StoreResult) -> &'static str {
    match r {
        StoreResult::Stored => "STORED",
        StoreResult::NotStored => "NOT_STORED",
        StoreResult::Exists => "EXISTS",
        StoreResult::NotFound => "NOT_FOUND",
        StoreResult::TooLarge => "SERVER_ERROR object too large for cache",
        StoreResult::OutOfMemory => "SERVER_ERROR out of memory storing object",
    }
}

/// memcached's `lru_crawler metadump` line per live item. `la` is the last write time: items
/// here keep no separate access time.
fn write_metadump(store: &Store, classes: u64, out: &mut Vec<u8>) {
    use std::io::Write;
    let mut metas = Vec::with_capacity(1024);
    let mut cursor = Some(0);
    while let Some(c) = cursor {
        metas.clear();
        cursor = store.scan_meta(c, 1024, &mut metas);
        for m in metas
            .iter()
            .filter(|m| m.class <= 64 && classes & (1 << (m.class - 1)) != 0)
        {
            out.extend_from_slice(b"key=");
            uri_encode(&m.key, out);
            let exp = if m.exptime == 0 {
                -1
            } else {
                i64::from(m.exptime)
            };
            let _ = writeln!(
                out,
                " exp={exp} la={} cas={} fetch={} cls={} size={}",
                (m.cas >> 20) / 1000,
                m.cas,
                if m.fetched { "yes" } else { "no" },
                m.class,
                m.size
            );
        }
    }
}

fn uri_encode(key: &[u8], out: &mut Vec<u8>) {
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
}
