//! `stats settings`: the configuration under memcached's names, in memcached 1.6's order
//! (no counters here). Settings of memcached internals we lack report memcached's default
//! or what the `-o` option that names them was given; docs/compatibility.md lists them.

use super::stat;
use crate::config::{Config, Protocol};

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// What `stats settings` reads beyond the command line: settings changed at run time.
pub struct Live {
    /// `stats detail on` is in force.
    pub detail: bool,
    /// -m, or the last `cache_memlimit`, in bytes.
    pub maxbytes: usize,
    /// `lru_crawler enable|disable|tocrawl|sleep`.
    pub lru_crawler: bool,
    pub lru_crawler_tocrawl: u32,
    pub lru_crawler_sleep: u32,
}

/// The `ssl_*` settings, which memcached built with TLS prints with or without -Z.
fn tls_settings(out: &mut Vec<u8>, cfg: &Config) {
    let t = cfg.tls();
    let null = |v: &Option<String>| v.clone().unwrap_or_else(|| "NULL".into());
    // memcached prints these two with printf's "%s" of a null pointer.
    let unset = |v: &Option<String>| v.clone().unwrap_or_else(|| "(null)".into());
    stat(out, "ssl_enabled", yes(t.enabled));
    stat(out, "ssl_chain_cert", unset(&t.chain_cert));
    stat(out, "ssl_key", unset(&t.key));
    stat(out, "ssl_verify_mode", t.verify_mode);
    stat(out, "ssl_keyformat", t.keyformat);
    stat(out, "ssl_ciphers", null(&t.ciphers));
    stat(out, "ssl_ca_cert", null(&t.ca_cert));
    stat(out, "ssl_wbuf_size", t.wbuf_size);
    stat(out, "ssl_session_cache", yes(t.session_cache));
    stat(out, "ssl_kernel_tls", yes(t.kernel_tls));
    stat(out, "ssl_min_version", t.min_version.name());
}

/// `stats settings`
pub fn write_settings(out: &mut Vec<u8>, cfg: &Config, live: &Live) {
    let c = &cfg.compat;
    let ext = &c.ext;
    stat(out, "maxbytes", live.maxbytes);
    stat(out, "maxconns", cfg.conn_limit);
    stat(out, "tcpport", cfg.port);
    stat(out, "udpport", cfg.compat.udp_port);
    let inter: Vec<String> = cfg.listen.iter().map(|a| a.to_string()).collect();
    stat(out, "inter", inter.join(","));
    stat(out, "verbosity", cfg.verbose);
    stat(out, "oldest", 0);
    stat(out, "evictions", if cfg.evictions { "on" } else { "off" });
    stat(
        out,
        "domain_socket",
        c.unix_socket.as_deref().unwrap_or("NULL"),
    );
    stat(out, "umask", format!("{:o}", c.unix_mask));
    stat(out, "shutdown_command", yes(cfg.shutdown_enabled));
    stat(out, "growth_factor", format!("{:.2}", cfg.growth_factor));
    stat(out, "chunk_size", cfg.min_chunk);
    stat(out, "num_threads", cfg.shards);
    stat(out, "num_threads_per_udp", cfg.shards);
    stat(out, "stat_key_prefix", c.prefix_delimiter as char);
    stat(out, "detail_enabled", yes(live.detail));
    stat(out, "reqs_per_event", c.reqs_per_event);
    stat(out, "cas_enabled", yes(cfg.cas));
    stat(out, "tcp_backlog", c.backlog);
    let binding = match cfg.protocol {
        Protocol::Auto => "auto-negotiate",
        Protocol::Ascii => "ascii",
        Protocol::Binary => "binary",
    };
    stat(out, "binding_protocol", binding);
    stat(out, "auth_enabled_sasl", yes(cfg.sasl.is_some()));
    let ascii_auth = cfg.auth_file_path.as_deref().unwrap_or("no");
    stat(out, "auth_enabled_ascii", ascii_auth);
    stat(out, "item_size_max", cfg.max_item_size);
    stat(out, "maxconns_fast", yes(ext.maxconns_fast));
    stat(out, "hashpower_init", 0);
    stat(out, "slab_reassign", yes(ext.slab_reassign));
    stat(out, "slab_automove", ext.slab_automove);
    stat(out, "slab_automove_ratio", "0.80");
    stat(out, "slab_automove_window", 30);
    let chunk_max = ext.slab_chunk_max.unwrap_or(cfg.page_size() / 2);
    stat(out, "slab_chunk_max", chunk_max);
    stat(out, "lru_crawler", yes(live.lru_crawler));
    stat(out, "lru_crawler_sleep", live.lru_crawler_sleep);
    stat(out, "lru_crawler_tocrawl", live.lru_crawler_tocrawl);
    stat(out, "tail_repair_time", 0);
    stat(out, "flush_enabled", yes(cfg.flush_enabled));
    stat(out, "dump_enabled", "yes");
    // Keys hash with ahash whatever -o hash_algorithm says (it is validated, then logged).
    stat(out, "hash_algorithm", "ahash");
    stat(out, "lru_maintainer_thread", yes(ext.lru_maintainer));
    stat(out, "lru_segmented", yes(ext.lru_segmented));
    stat(out, "hot_lru_pct", 20);
    stat(out, "warm_lru_pct", 40);
    stat(out, "hot_max_factor", "0.20");
    stat(out, "warm_max_factor", "2.00");
    stat(out, "temp_lru", "no");
    stat(out, "temporary_ttl", ext.temporary_ttl);
    stat(out, "idle_timeout", ext.idle_timeout);
    stat(out, "watcher_logbuf_size", ext.watcher_logbuf_size);
    stat(out, "worker_logbuf_size", ext.worker_logbuf_size);
    stat(out, "read_buf_mem_limit", 0);
    stat(out, "track_sizes", yes(ext.track_sizes));
    stat(out, "inline_ascii_response", "no");
    absent_features(out, cfg);
    // Ours, after memcached's.
    stat(out, "slab_page_size", cfg.page_size());
    stat(out, "spin_before_park_us", cfg.spin_before_park_us);
    let sched = if cfg.sched_batch { "batch" } else { "normal" };
    stat(out, "shard_sched", sched);
    out.extend_from_slice(b"END\r\n");
}

/// Settings of memcached build options: extstore, NAPI ids and a restart memory file, which
/// corecached does not have, and TLS (`tls_settings`), which it has.
/// Debian's memcached 1.6.18 is built with all of them and
/// prints these; here each reads as that build's default with the feature unused
/// (docs/protocol.md, "stats names", marks them).
fn absent_features(out: &mut Vec<u8>, cfg: &Config) {
    const EXTSTORE: &[(&str, &str)] = &[
        ("ext_item_size", "512"),
        ("ext_item_age", "4294967295"),
        ("ext_low_ttl", "0"),
        ("ext_recache_rate", "2000"),
        ("ext_wbuf_size", "4194304"),
        ("ext_compact_under", "0"),
        ("ext_drop_under", "0"),
        ("ext_max_sleep", "1000000"),
        ("ext_max_frag", "0.80"),
        ("slab_automove_freeratio", "0.010"),
        ("ext_drop_unread", "no"),
    ];
    const TAIL: &[(&str, &str)] = &[("num_napi_ids", "(null)"), ("memory_file", "(null)")];
    for (name, value) in EXTSTORE {
        stat(out, name, value);
    }
    tls_settings(out, cfg);
    for (name, value) in TAIL {
        stat(out, name, value);
    }
}
