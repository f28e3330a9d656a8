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
}

use Line::{Declared, Fact};

/// Plain `stats`, in memcached's order (clients and exporters read it by name, people by eye).
const GENERAL: &[(&str, Line)] = &[
    ("pid", Fact(|f| f.p.pid.to_string())),
    ("uptime", Fact(|f| f.p.uptime.to_string())),
    ("time", Fact(|f| f.p.now_unix.to_string())),
    ("version", Fact(|f| f.p.version.to_string())),
    ("pointer_size", Fact(|_| usize::BITS.to_string())),
    ("rusage_user", Fact(|f| format!("{:.6}", f.user))),
    ("rusage_system", Fact(|f| format!("{:.6}", f.system))),
    ("max_connections", Fact(|f| f.p.max_connections.to_string())),
    ("curr_connections", Declared),
    ("total_connections", Declared),
    ("rejected_connections", Declared),
    // One structure per open connection.
    (
        "connection_structures",
        Fact(|f| f.t.conns.curr_connections.to_string()),
    ),
    ("cmd_get", Declared),
    ("cmd_set", Declared),
    ("cmd_flush", Declared),
    ("cmd_touch", Declared),
    ("cmd_meta", Declared),
    ("get_hits", Declared),
    ("get_misses", Declared),
    ("get_expired", Declared),
    ("get_flushed", Declared),
    ("delete_misses", Declared),
    ("delete_hits", Declared),
    ("incr_misses", Declared),
    ("incr_hits", Declared),
    ("decr_misses", Declared),
    ("decr_hits", Declared),
    ("cas_misses", Declared),
    ("cas_hits", Declared),
    ("cas_badval", Declared),
    ("touch_hits", Declared),
    ("touch_misses", Declared),
    ("store_too_large", Declared),
    ("store_no_memory", Declared),
    ("auth_cmds", Declared),
    ("auth_errors", Declared),
    ("bytes_read", Declared),
    ("bytes_written", Declared),
    ("limit_maxbytes", Fact(|f| f.p.limit_maxbytes.to_string())),
    ("accepting_conns", Fact(|_| "1".into())),
    ("threads", Fact(|f| f.p.threads.to_string())),
    ("hash_power_level", Declared),
    ("hash_bytes", Declared),
    ("hash_is_expanding", Declared),
    ("slabs_moved", Declared),
    ("bytes", Declared),
    ("curr_items", Declared),
    ("total_items", Declared),
    ("expired_unfetched", Declared),
    ("evicted_unfetched", Declared),
    ("evicted_active", Declared),
    ("evictions", Declared),
    ("reclaimed", Declared),
    ("total_pages", Declared),
    ("cross_shard_batches", Declared),
    ("cross_shard_ops", Declared),
];

/// `stats shards`: our per-shard view (not in memcached); every name is a declared one.
const SHARD_LINES: &[&str] = &[
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
];

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
    let t = Totals::of(shards);
    let (user, system) = rusage();
    let facts = Facts {
        p,
        t: &t,
        user,
        system,
    };
    for (name, line) in GENERAL {
        match line {
            Declared => stat(out, name, declared(t.get(name), name)),
            Fact(f) => stat(out, name, f(&facts)),
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
        .filter(|(_, l)| matches!(l, Declared))
        .map(|(n, _)| *n)
        .collect();
    (declared, SHARD_LINES)
}
