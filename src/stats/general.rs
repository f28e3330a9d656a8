//! Plain `stats` and `stats shards`: memcached's names in memcached's order, one table line
//! per name, drawing on the declared connection and store values and on process facts.

use super::{ShardSnapshot, Totals, declared, stat};

/// Process-wide facts the general `stats` needs.
pub struct ProcessInfo {
    pub pid: u32,
    pub uptime: u64,
    pub now_unix: u64,
    pub version: &'static str,
    pub max_connections: usize,
    pub threads: usize,
    pub limit_maxbytes: u64,
    /// Descriptors held back from the connection limit for the server's own use.
    pub reserved_fds: u64,
    /// An `lru_crawler crawl` or metadump is running; crawls and metadumps started.
    pub lru_crawler_running: bool,
    pub lru_crawler_starts: u64,
    pub show: Show,
    /// With -Z: the `ssl_*` lines.
    pub tls: Option<TlsFigures>,
    /// `watch`'s counters, node-wide.
    pub log: LogStats,
}

/// The TLS figures of plain `stats` (memcached prints them under -Z only).
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsFigures {
    pub handshake_errors: u64,
    /// Only with `ssl_session_cache`, as memcached prints it.
    pub new_sessions: Option<u64>,
    pub secs_since_cert_refresh: u64,
}

/// The log_* lines: what `watch` did, over the whole node.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogStats {
    /// Events formatted by the shards (memcached: written to a worker's log buffer).
    pub worker_written: u64,
    /// Lines queued for watchers, and lines dropped because a watcher's queue was full.
    pub watcher_sent: u64,
    pub watcher_skipped: u64,
    pub watchers: u64,
}

/// The settings that decide which optional lines memcached prints.
#[derive(Clone, Copy, Debug, Default)]
pub struct Show {
    pub maxconns_fast: bool,
    pub idle_timeout: bool,
    pub slab_reassign: bool,
    pub lru_crawler: bool,
    pub lru_maintainer: bool,
}

/// What a `Fact` line may read.
struct Facts<'a> {
    p: &'a ProcessInfo,
    t: &'a Totals,
    user: f64,
    system: f64,
}

/// Where one line of plain `stats` gets its value.
enum Line {
    /// The declared connection or store value of the line's name, over all shards.
    Declared,
    /// Not a counter of ours: a process fact, a constant, or another name for one.
    Fact(fn(&Facts) -> String),
    /// A memcached internal with no counterpart here (a pool, thread or log we do not
    /// have): always 0, listed in docs/compatibility.md.
    Zero,
}

/// When memcached prints a line: always, or only with a setting on.
#[derive(Clone, Copy)]
enum When {
    Always,
    MaxconnsFast,
    IdleTimeout,
    SlabReassign,
    LruCrawler,
    LruMaintainer,
    Tls,
    TlsSessionCache,
}

use Line::{Declared, Fact, Zero};
use When::*;

/// Plain `stats`, in memcached 1.6's order and with its conditions (clients and exporters
/// read it by name, people by eye, memcached's t/stats.t by count).
const GENERAL: &[(&str, Line, When)] = &[
    ("pid", Fact(|f| f.p.pid.to_string()), Always),
    ("uptime", Fact(|f| f.p.uptime.to_string()), Always),
    ("time", Fact(|f| f.p.now_unix.to_string()), Always),
    ("version", Fact(|f| f.p.version.to_string()), Always),
    // memcached names its event library here; ours is the runtime.
    ("libevent", Fact(|_| "glommio-0.9.0".into()), Always),
    ("pointer_size", Fact(|_| usize::BITS.to_string()), Always),
    ("rusage_user", Fact(|f| format!("{:.6}", f.user)), Always),
    (
        "rusage_system",
        Fact(|f| format!("{:.6}", f.system)),
        Always,
    ),
    (
        "max_connections",
        Fact(|f| f.p.max_connections.to_string()),
        Always,
    ),
    ("curr_connections", Declared, Always),
    ("total_connections", Declared, Always),
    ("rejected_connections", Declared, MaxconnsFast),
    // One structure per open connection.
    (
        "connection_structures",
        Fact(|f| f.t.conns.curr_connections.to_string()),
        Always,
    ),
    ("response_obj_oom", Zero, Always),
    ("response_obj_count", Zero, Always),
    ("response_obj_bytes", Zero, Always),
    ("read_buf_count", Zero, Always),
    ("read_buf_bytes", Zero, Always),
    ("read_buf_bytes_free", Zero, Always),
    ("read_buf_oom", Zero, Always),
    (
        "reserved_fds",
        Fact(|f| f.p.reserved_fds.to_string()),
        Always,
    ),
    ("cmd_get", Declared, Always),
    ("cmd_set", Declared, Always),
    ("cmd_flush", Declared, Always),
    ("cmd_touch", Declared, Always),
    ("cmd_meta", Declared, Always),
    ("get_hits", Declared, Always),
    ("get_misses", Declared, Always),
    ("get_expired", Declared, Always),
    ("get_flushed", Declared, Always),
    ("delete_misses", Declared, Always),
    ("delete_hits", Declared, Always),
    ("incr_misses", Declared, Always),
    ("incr_hits", Declared, Always),
    ("decr_misses", Declared, Always),
    ("decr_hits", Declared, Always),
    ("cas_misses", Declared, Always),
    ("cas_hits", Declared, Always),
    ("cas_badval", Declared, Always),
    ("touch_hits", Declared, Always),
    ("touch_misses", Declared, Always),
    ("store_too_large", Declared, Always),
    ("store_no_memory", Declared, Always),
    ("auth_cmds", Declared, Always),
    ("auth_errors", Declared, Always),
    ("idle_kicks", Declared, IdleTimeout),
    ("bytes_read", Declared, Always),
    ("bytes_written", Declared, Always),
    (
        "limit_maxbytes",
        Fact(|f| f.p.limit_maxbytes.to_string()),
        Always,
    ),
    ("accepting_conns", Fact(|_| "1".into()), Always),
    // Over -c a connection is answered and closed; listening never stops.
    ("listen_disabled_num", Zero, Always),
    ("time_in_listen_disabled_us", Zero, Always),
    ("threads", Fact(|f| f.p.threads.to_string()), Always),
    ("conn_yields", Declared, Always),
    ("hash_power_level", Declared, Always),
    ("hash_bytes", Declared, Always),
    ("hash_is_expanding", Declared, Always),
    // Pages move synchronously when a class needs one (docs/architecture.md): no mover
    // thread to rescue items, run or be busy.
    ("slab_reassign_rescues", Zero, SlabReassign),
    ("slab_reassign_chunk_rescues", Zero, SlabReassign),
    ("slab_reassign_evictions_nomem", Zero, SlabReassign),
    ("slab_reassign_inline_reclaim", Zero, SlabReassign),
    ("slab_reassign_busy_items", Zero, SlabReassign),
    ("slab_reassign_busy_deletes", Zero, SlabReassign),
    ("slab_reassign_running", Zero, SlabReassign),
    ("slabs_moved", Declared, SlabReassign),
    (
        "lru_crawler_running",
        Fact(|f| u8::from(f.p.lru_crawler_running).to_string()),
        LruCrawler,
    ),
    (
        "lru_crawler_starts",
        Fact(|f| f.p.lru_crawler_starts.to_string()),
        LruCrawler,
    ),
    ("lru_maintainer_juggles", Zero, LruMaintainer),
    ("malloc_fails", Zero, Always),
    // A shard's staged lines go to the watchers when its buffer fills: none is dropped there.
    ("log_worker_dropped", Zero, Always),
    (
        "log_worker_written",
        Fact(|f| f.p.log.worker_written.to_string()),
        Always,
    ),
    (
        "log_watcher_skipped",
        Fact(|f| f.p.log.watcher_skipped.to_string()),
        Always,
    ),
    (
        "log_watcher_sent",
        Fact(|f| f.p.log.watcher_sent.to_string()),
        Always,
    ),
    (
        "log_watchers",
        Fact(|f| f.p.log.watchers.to_string()),
        Always,
    ),
    (
        "ssl_new_sessions",
        Fact(|f| tls(f).new_sessions.unwrap_or(0).to_string()),
        TlsSessionCache,
    ),
    (
        "ssl_handshake_errors",
        Fact(|f| tls(f).handshake_errors.to_string()),
        Tls,
    ),
    (
        "time_since_server_cert_refresh",
        Fact(|f| tls(f).secs_since_cert_refresh.to_string()),
        Tls,
    ),
    ("unexpected_napi_ids", Zero, Always),
    ("round_robin_fallback", Zero, Always),
    ("bytes", Declared, Always),
    ("curr_items", Declared, Always),
    ("total_items", Declared, Always),
    // Free pages go back to the kernel rather than to a global pool.
    ("slab_global_page_pool", Zero, Always),
    ("expired_unfetched", Declared, Always),
    ("evicted_unfetched", Declared, Always),
    ("evicted_active", Declared, LruMaintainer),
    ("evictions", Declared, Always),
    ("reclaimed", Declared, Always),
    ("crawler_reclaimed", Declared, Always),
    ("crawler_items_checked", Declared, Always),
    // No reference counts: the crawler never meets an item another request holds.
    ("lrutail_reflocked", Zero, Always),
    ("moves_to_cold", Zero, LruMaintainer),
    ("moves_to_warm", Zero, LruMaintainer),
    ("moves_within_lru", Declared, LruMaintainer),
    ("direct_reclaims", Zero, LruMaintainer),
    ("lru_bumps_dropped", Zero, LruMaintainer),
];

/// `stats shards`: our per-shard view (not in memcached); every name is a declared one.
pub(super) const SHARD_LINES: &[&str] = &[
    "curr_items",
    "bytes",
    "limit_bytes",
    "total_pages",
    "cmd_get",
    "cmd_set",
    "get_hits",
    "evictions",
    "curr_connections",
    "cross_shard_batches",
    "cross_shard_ops",
    "cross_shard_handoffs",
];

fn tls(f: &Facts) -> TlsFigures {
    f.p.tls.unwrap_or_default()
}

pub(super) fn rusage() -> (f64, f64) {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage struct.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// Plain `stats`.
pub fn write_general(out: &mut Vec<u8>, p: &ProcessInfo, shards: &[ShardSnapshot]) {
    let t = Totals::of(shards);
    let (user, system) = rusage();
    let facts = Facts {
        p,
        t: &t,
        user,
        system,
    };
    let s = p.show;
    for (name, line, when) in GENERAL {
        let shown = match when {
            Always => true,
            MaxconnsFast => s.maxconns_fast,
            IdleTimeout => s.idle_timeout,
            SlabReassign => s.slab_reassign,
            LruCrawler => s.lru_crawler,
            LruMaintainer => s.lru_maintainer,
            Tls => p.tls.is_some(),
            TlsSessionCache => p.tls.is_some_and(|t| t.new_sessions.is_some()),
        };
        match line {
            _ if !shown => {}
            Declared => stat(out, name, declared(t.get(name), name)),
            Fact(f) => stat(out, name, f(&facts)),
            Zero => stat(out, name, 0),
        }
    }
    out.extend_from_slice(b"END\r\n");
}

/// `stats shards`
pub fn write_shards(out: &mut Vec<u8>, shards: &[ShardSnapshot]) {
    for s in shards {
        let t = Totals {
            conns: s.conns,
            store: s.store,
        };
        for name in SHARD_LINES {
            let v = declared(t.get(name), name);
            stat(out, &format!("shard:{}:{name}", s.shard), v);
        }
    }
    out.extend_from_slice(b"END\r\n");
}

#[cfg(test)]
pub(super) fn table_names() -> (Vec<&'static str>, &'static [&'static str]) {
    let declared = GENERAL
        .iter()
        .filter(|(_, l, _)| matches!(l, Declared))
        .map(|(n, _, _)| *n)
        .collect();
    (declared, SHARD_LINES)
}
