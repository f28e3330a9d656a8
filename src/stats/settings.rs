//! `stats settings`: the configuration under memcached's names (no counters here).

use super::stat;

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
