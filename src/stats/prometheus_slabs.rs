//! The per-slab-class part of `/metrics`: `stats items` and `stats slabs` under
//! memcached_exporter's `memcached_slab_*` names, summed over shards, for each class that
//! holds a page (as `stats slabs` lists them).

use super::{Exposition, ShardSnapshot};
use crate::counters::Kind::{self, Counter, Gauge};
use crate::stats::classes::merged_classes;
use crate::storage::ClassStats;

/// A class's declared value and the exporter's name for it.
const CLASS_METRICS: &[(&str, &str, Kind)] = &[
    ("number", "memcached_slab_current_items", Gauge),
    ("age", "memcached_slab_items_age_seconds", Gauge),
    ("evicted", "memcached_slab_items_evicted_total", Counter),
    (
        "evicted_nonzero",
        "memcached_slab_items_evicted_nonzero_total",
        Counter,
    ),
    (
        "evicted_unfetched",
        "memcached_slab_items_evicted_unfetched_total",
        Counter,
    ),
    (
        "expired_unfetched",
        "memcached_slab_items_expired_unfetched_total",
        Counter,
    ),
    (
        "outofmemory",
        "memcached_slab_items_outofmemory_total",
        Counter,
    ),
    ("reclaimed", "memcached_slab_items_reclaimed_total", Counter),
    // The exporter types this one a counter; it is the live items' size, a gauge.
    ("mem_requested", "memcached_slab_mem_requested_bytes", Gauge),
    ("chunk_size", "memcached_slab_chunk_size_bytes", Gauge),
    ("chunks_per_page", "memcached_slab_chunks_per_page", Gauge),
    ("total_pages", "memcached_slab_current_pages", Gauge),
    ("total_chunks", "memcached_slab_current_chunks", Gauge),
    ("used_chunks", "memcached_slab_chunks_used", Gauge),
    ("free_chunks", "memcached_slab_chunks_free", Gauge),
];

/// `stats slabs`' per-class command counts: (stat, command, status).
const CLASS_COMMANDS: &[(&str, &str, &str)] = &[
    ("get_hits", "get", "hit"),
    ("cmd_set", "set", "hit"),
    ("delete_hits", "delete", "hit"),
    ("incr_hits", "incr", "hit"),
    ("decr_hits", "decr", "hit"),
    ("cas_hits", "cas", "hit"),
    ("cas_badval", "cas", "badval"),
    ("touch_hits", "touch", "hit"),
];

const SLAB_COMMANDS: &str = "memcached_slab_commands_total";

pub(super) fn slabs(e: &mut Exposition, shards: &[ShardSnapshot]) {
    for c in merged_classes(shards).iter().filter(|c| c.total_pages > 0) {
        let slab = format!("slab=\"{}\"", c.id);
        for (stat, name, kind) in CLASS_METRICS {
            let help = format!("Per slab class: {}", help_of(stat));
            e.plain(name, *kind, &help, &slab, value(c, stat));
        }
        for (stat, command, status) in CLASS_COMMANDS {
            let labels = format!("{slab},command=\"{command}\",status=\"{status}\"");
            let help = "Per slab class: requests by command and outcome.";
            e.plain(SLAB_COMMANDS, Counter, help, &labels, value(c, stat));
        }
    }
}

fn value(c: &ClassStats, stat: &str) -> u64 {
    c.get(stat)
        .unwrap_or_else(|| panic!("class stat {stat} is not declared"))
}

fn help_of(stat: &str) -> &'static str {
    ClassStats::FIELDS
        .iter()
        .find(|d| d.name == stat)
        .map_or("", |d| d.help)
}
