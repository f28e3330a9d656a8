//! Per-shard counters and the `stats` family of replies: each shard reports a snapshot,
//! the connection that asked sums them and formats memcached's names in memcached's order.

use crate::storage::{ClassStats, StoreStats};
use std::cell::Cell;
use std::fmt::Display;
use std::io::Write;

/// Connection-level counters a shard keeps for the connections it accepted.
#[derive(Default, Debug)]
pub struct ConnCounters {
    pub curr_connections: Cell<u64>,
    pub total_connections: Cell<u64>,
    pub rejected_connections: Cell<u64>,
    pub bytes_read: Cell<u64>,
    pub bytes_written: Cell<u64>,
    pub cmd_flush: Cell<u64>,
    pub store_too_large: Cell<u64>,
    pub store_no_memory: Cell<u64>,
    pub remote_batches: Cell<u64>,
    pub remote_ops: Cell<u64>,
}

impl ConnCounters {
    pub fn add(c: &Cell<u64>, n: u64) {
        c.set(c.get() + n);
    }

    pub fn snapshot(&self) -> ConnSnapshot {
        ConnSnapshot {
            curr_connections: self.curr_connections.get(),
            total_connections: self.total_connections.get(),
            rejected_connections: self.rejected_connections.get(),
            bytes_read: self.bytes_read.get(),
            bytes_written: self.bytes_written.get(),
            cmd_flush: self.cmd_flush.get(),
            store_too_large: self.store_too_large.get(),
            store_no_memory: self.store_no_memory.get(),
            remote_batches: self.remote_batches.get(),
            remote_ops: self.remote_ops.get(),
        }
    }

    /// `stats reset` zeroes counters but not gauges such as curr_connections.
    pub fn reset(&self) {
        for c in [
            &self.total_connections,
            &self.rejected_connections,
            &self.bytes_read,
            &self.bytes_written,
            &self.cmd_flush,
            &self.store_too_large,
            &self.store_no_memory,
            &self.remote_batches,
            &self.remote_ops,
        ] {
            c.set(0);
        }
    }
}

#[derive(Clone, Copy, Default, Debug)]
pub struct ConnSnapshot {
    pub curr_connections: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub cmd_flush: u64,
    pub store_too_large: u64,
    pub store_no_memory: u64,
    pub remote_batches: u64,
    pub remote_ops: u64,
}

/// What one shard reports for `stats`.
#[derive(Clone, Debug)]
pub struct ShardSnapshot {
    pub shard: usize,
    pub store: StoreStats,
    pub classes: Vec<ClassStats>,
    pub conns: ConnSnapshot,
    pub repl: Option<crate::replication::ReplSnapshot>,
    /// `stats conns` lines for connections this shard owns.
    pub conn_lines: Vec<u8>,
}

/// Process-wide facts the general `stats` needs.
pub struct ProcessInfo {
    pub pid: u32,
    pub uptime: u64,
    pub now_unix: u64,
    pub version: &'static str,
    pub max_connections: usize,
    pub threads: usize,
    pub limit_maxbytes: u64,
}

fn stat(out: &mut Vec<u8>, name: &str, value: impl Display) {
    let _ = write!(out, "STAT {name} {value}\r\n");
}

fn sum<F: Fn(&ShardSnapshot) -> u64>(shards: &[ShardSnapshot], f: F) -> u64 {
    shards.iter().map(f).sum()
}

fn rusage() -> (f64, f64) {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage struct.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// Plain `stats`.
pub fn write_general(out: &mut Vec<u8>, p: &ProcessInfo, shards: &[ShardSnapshot]) {
    let s = |f: fn(&StoreStats) -> u64| sum(shards, |x| f(&x.store));
    let c = |f: fn(&ConnSnapshot) -> u64| sum(shards, |x| f(&x.conns));
    let (user, system) = rusage();
    stat(out, "pid", p.pid);
    stat(out, "uptime", p.uptime);
    stat(out, "time", p.now_unix);
    stat(out, "version", p.version);
    stat(out, "pointer_size", usize::BITS);
    stat(out, "rusage_user", format!("{user:.6}"));
    stat(out, "rusage_system", format!("{system:.6}"));
    stat(out, "max_connections", p.max_connections);
    stat(out, "curr_connections", c(|x| x.curr_connections));
    stat(out, "total_connections", c(|x| x.total_connections));
    stat(out, "rejected_connections", c(|x| x.rejected_connections));
    stat(out, "connection_structures", c(|x| x.curr_connections));
    stat(out, "cmd_get", s(|x| x.cmd_get));
    stat(out, "cmd_set", s(|x| x.cmd_set));
    stat(out, "cmd_flush", c(|x| x.cmd_flush));
    stat(out, "cmd_touch", s(|x| x.cmd_touch));
    stat(out, "cmd_meta", 0);
    stat(out, "get_hits", s(|x| x.get_hits));
    stat(out, "get_misses", s(|x| x.get_misses));
    stat(out, "get_expired", s(|x| x.get_expired));
    stat(out, "get_flushed", s(|x| x.get_flushed));
    stat(out, "delete_misses", s(|x| x.delete_misses));
    stat(out, "delete_hits", s(|x| x.delete_hits));
    stat(out, "incr_misses", s(|x| x.incr_misses));
    stat(out, "incr_hits", s(|x| x.incr_hits));
    stat(out, "decr_misses", s(|x| x.decr_misses));
    stat(out, "decr_hits", s(|x| x.decr_hits));
    stat(out, "cas_misses", s(|x| x.cas_misses));
    stat(out, "cas_hits", s(|x| x.cas_hits));
    stat(out, "cas_badval", s(|x| x.cas_badval));
    stat(out, "touch_hits", s(|x| x.touch_hits));
    stat(out, "touch_misses", s(|x| x.touch_misses));
    stat(out, "store_too_large", c(|x| x.store_too_large));
    stat(out, "store_no_memory", c(|x| x.store_no_memory));
    stat(out, "auth_cmds", 0);
    stat(out, "auth_errors", 0);
    stat(out, "bytes_read", c(|x| x.bytes_read));
    stat(out, "bytes_written", c(|x| x.bytes_written));
    stat(out, "limit_maxbytes", p.limit_maxbytes);
    stat(out, "accepting_conns", 1);
    stat(out, "threads", p.threads);
    stat(
        out,
        "hash_power_level",
        shards
            .iter()
            .map(|x| x.store.hash_power_level)
            .max()
            .unwrap_or(0),
    );
    stat(out, "hash_bytes", s(|x| x.hash_bytes));
    stat(out, "hash_is_expanding", s(|x| x.hash_is_expanding).min(1));
    stat(out, "slabs_moved", s(|x| x.slabs_moved));
    stat(out, "bytes", s(|x| x.bytes));
    stat(out, "curr_items", s(|x| x.curr_items));
    stat(out, "total_items", s(|x| x.total_items));
    stat(out, "expired_unfetched", s(|x| x.expired_unfetched));
    stat(out, "evicted_unfetched", s(|x| x.evicted_unfetched));
    stat(out, "evicted_active", s(|x| x.evicted_active));
    stat(out, "evictions", s(|x| x.evictions));
    stat(out, "reclaimed", s(|x| x.reclaimed));
    stat(out, "total_pages", s(|x| x.total_pages));
    stat(out, "cross_shard_batches", c(|x| x.remote_batches));
    stat(out, "cross_shard_ops", c(|x| x.remote_ops));
    out.extend_from_slice(b"END\r\n");
}

/// Sums per-class stats over shards, matching classes by id (every shard has the same
/// class table because every shard has the same -n/-f/-I).
fn merged_classes(shards: &[ShardSnapshot]) -> Vec<ClassStats> {
    let mut merged: Vec<ClassStats> = Vec::new();
    for snap in shards {
        for c in &snap.classes {
            match merged.iter_mut().find(|m| m.id == c.id) {
                Some(m) => {
                    m.total_pages += c.total_pages;
                    m.total_chunks += c.total_chunks;
                    m.used_chunks += c.used_chunks;
                    m.free_chunks += c.free_chunks;
                    m.items += c.items;
                    m.age_secs = m.age_secs.max(c.age_secs);
                    m.evicted += c.evicted;
                    m.evicted_nonzero += c.evicted_nonzero;
                    m.evicted_unfetched += c.evicted_unfetched;
                    m.reclaimed += c.reclaimed;
                    m.expired_unfetched += c.expired_unfetched;
                    m.outofmemory += c.outofmemory;
                    m.mem_requested += c.mem_requested;
                    m.get_hits += c.get_hits;
                    m.cmd_set += c.cmd_set;
                    m.delete_hits += c.delete_hits;
                    m.incr_hits += c.incr_hits;
                    m.decr_hits += c.decr_hits;
                    m.cas_hits += c.cas_hits;
                    m.cas_badval += c.cas_badval;
                    m.touch_hits += c.touch_hits;
                }
                None => merged.push(*c),
            }
        }
    }
    merged.sort_by_key(|c| c.id);
    merged
}

/// `stats items`
pub fn write_items(out: &mut Vec<u8>, shards: &[ShardSnapshot]) {
    for c in merged_classes(shards)
        .iter()
        .filter(|c| c.items > 0 || c.total_pages > 0)
    {
        let id = c.id;
        let mut item = |name: &str, v: u64| stat(out, &format!("items:{id}:{name}"), v);
        item("number", c.items);
        item("age", c.age_secs);
        item("mem_requested", c.mem_requested);
        item("evicted", c.evicted);
        item("evicted_nonzero", c.evicted_nonzero);
        item("evicted_time", 0);
        item("outofmemory", c.outofmemory);
        item("tailrepairs", 0);
        item("reclaimed", c.reclaimed);
        item("expired_unfetched", c.expired_unfetched);
        item("evicted_unfetched", c.evicted_unfetched);
    }
    out.extend_from_slice(b"END\r\n");
}

/// `stats slabs`
pub fn write_slabs(out: &mut Vec<u8>, shards: &[ShardSnapshot], page_size: usize) {
    let classes = merged_classes(shards);
    let mut active = 0;
    for c in classes.iter().filter(|c| c.total_pages > 0) {
        active += 1;
        let id = c.id;
        let mut slab = |name: &str, v: u64| stat(out, &format!("{id}:{name}"), v);
        slab("chunk_size", c.chunk_size);
        slab("chunks_per_page", c.chunks_per_page);
        slab("total_pages", c.total_pages);
        slab("total_chunks", c.total_chunks);
        slab("used_chunks", c.used_chunks);
        slab("free_chunks", c.free_chunks);
        slab("free_chunks_end", 0);
        slab("get_hits", c.get_hits);
        slab("cmd_set", c.cmd_set);
        slab("delete_hits", c.delete_hits);
        slab("incr_hits", c.incr_hits);
        slab("decr_hits", c.decr_hits);
        slab("cas_hits", c.cas_hits);
        slab("cas_badval", c.cas_badval);
        slab("touch_hits", c.touch_hits);
    }
    stat(out, "active_slabs", active);
    let pages: u64 = shards.iter().map(|s| s.store.total_pages).sum();
    stat(out, "total_malloced", pages * page_size as u64);
    out.extend_from_slice(b"END\r\n");
}

/// `stats shards`: our per-shard view (not in memcached).
pub fn write_shards(out: &mut Vec<u8>, shards: &[ShardSnapshot]) {
    for s in shards {
        let id = s.shard;
        let mut st = |name: &str, v: u64| stat(out, &format!("shard:{id}:{name}"), v);
        st("curr_items", s.store.curr_items);
        st("bytes", s.store.bytes);
        st("limit_bytes", s.store.limit_bytes);
        st("total_pages", s.store.total_pages);
        st("cmd_get", s.store.cmd_get);
        st("cmd_set", s.store.cmd_set);
        st("get_hits", s.store.get_hits);
        st("evictions", s.store.evictions);
        st("curr_connections", s.conns.curr_connections);
        st("cross_shard_batches", s.conns.remote_batches);
        st("cross_shard_ops", s.conns.remote_ops);
    }
    out.extend_from_slice(b"END\r\n");
}

/// `stats settings`
pub fn write_settings(out: &mut Vec<u8>, cfg: &crate::config::Config) {
    stat(out, "maxbytes", cfg.memory_limit);
    stat(out, "maxconns", cfg.conn_limit);
    stat(out, "tcpport", cfg.port);
    stat(out, "udpport", 0);
    let inter: Vec<String> = cfg.listen.iter().map(|a| a.to_string()).collect();
    stat(out, "inter", inter.join(","));
    stat(out, "verbosity", cfg.verbose);
    stat(out, "evictions", if cfg.evictions { "on" } else { "off" });
    stat(
        out,
        "shutdown_command",
        if cfg.shutdown_enabled { "yes" } else { "no" },
    );
    stat(out, "growth_factor", format!("{:.2}", cfg.growth_factor));
    stat(out, "chunk_size", cfg.min_chunk);
    stat(out, "num_threads", cfg.shards);
    stat(out, "cas_enabled", if cfg.cas { "yes" } else { "no" });
    stat(out, "item_size_max", cfg.max_item_size);
    stat(out, "slab_chunk_max", cfg.page_size() / 2);
    stat(out, "slab_page_size", cfg.page_size());
    stat(
        out,
        "flush_enabled",
        if cfg.flush_enabled { "yes" } else { "no" },
    );
    stat(out, "hash_algorithm", "ahash");
    stat(out, "spin_before_park_us", cfg.spin_before_park_us);
    out.extend_from_slice(b"END\r\n");
}

/// `stats replication`: the node's role and each shard's stream to the twin.
pub fn write_replication(
    out: &mut Vec<u8>,
    cfg: &crate::config::Config,
    node: Option<&crate::replication::NodeRepl>,
    shards: &[ShardSnapshot],
) {
    let (Some(rc), Some(node)) = (&cfg.repl, node) else {
        stat(out, "role", "standalone");
        out.extend_from_slice(b"END\r\n");
        return;
    };
    stat(out, "role", "twin");
    stat(out, "twin", &rc.twin);
    stat(out, "repl_listen", rc.listen);
    stat(out, "repl_id", format!("{:016x}", node.repl_id));
    stat(out, "node_id", node.node_id);
    stat(
        out,
        "secret_required",
        if rc.secret.is_some() { "yes" } else { "no" },
    );
    let reps: Vec<_> = shards
        .iter()
        .filter_map(|s| s.repl.as_ref().map(|r| (s.shard, r)))
        .collect();
    let total = |f: fn(&crate::replication::ReplSnapshot) -> u64| {
        reps.iter().map(|(_, r)| f(r)).sum::<u64>()
    };
    let streaming = reps.iter().filter(|(_, r)| r.link == "streaming").count();
    stat(out, "links_streaming", streaming);
    stat(out, "lag_records", total(|r| r.lag_records));
    stat(
        out,
        "lag_ms",
        reps.iter().map(|(_, r)| r.lag_ms).max().unwrap_or(0),
    );
    stat(out, "backlog_bytes", total(|r| r.backlog_bytes));
    stat(out, "full_resyncs", total(|r| r.full_resyncs));
    stat(out, "partial_resyncs", total(|r| r.partial_resyncs));
    stat(out, "records_sent", total(|r| r.records_sent));
    stat(out, "records_applied", total(|r| r.records_applied));
    for (id, r) in &reps {
        let mut st = |name: &str, v: &dyn Display| stat(out, &format!("shard:{id}:{name}"), v);
        st("link", &r.link);
        st("head_seq", &r.head_seq);
        st("acked_seq", &r.acked_seq);
        st("lag_records", &r.lag_records);
        st("lag_ms", &r.lag_ms);
        st("backlog_bytes", &r.backlog_bytes);
        st("backlog_records", &r.backlog_records);
        st("records_sent", &r.records_sent);
        st("records_applied", &r.records_applied);
        st("full_resyncs", &r.full_resyncs);
        st("partial_resyncs", &r.partial_resyncs);
    }
    out.extend_from_slice(b"END\r\n");
}
