//! `stats items` and `stats slabs`: per slab class, summed over shards, in memcached's order.

use super::{ShardSnapshot, declared, stat};
use crate::storage::ClassStats;

/// memcached names we print but do not track (always 0 here). A class has one LRU, not
/// memcached's hot, warm, cold and temp segments: its items count as cold (where memcached
/// evicts from, and what the active bit rescues from), so nothing is ever hot or warm, and
/// nothing moves between segments (docs/protocol.md, "stats names").
const UNTRACKED: &[&str] = &[
    "evicted_time",
    "tailrepairs",
    "free_chunks_end",
    "lrutail_reflocked",
    "number_hot",
    "number_warm",
    "age_hot",
    "age_warm",
    "moves_to_cold",
    "moves_to_warm",
    "direct_reclaims",
    "hits_to_hot",
    "hits_to_warm",
    "hits_to_temp",
];

/// memcached's per-segment names that are another name's value here (see UNTRACKED).
const SAME_AS: &[(&str, &str)] = &[("number_cold", "number"), ("hits_to_cold", "get_hits")];

/// `stats items` lines per class, in memcached's order; true: printed only while the LRU
/// maintainer is on (`-o lru_maintainer`, the default), as memcached does.
const ITEM_LINES: &[(&str, bool)] = &[
    ("number", false),
    ("number_hot", true),
    ("number_warm", true),
    ("number_cold", true),
    ("age_hot", true),
    ("age_warm", true),
    ("age", false),
    ("mem_requested", false),
    ("evicted", false),
    ("evicted_nonzero", false),
    ("evicted_time", false),
    ("outofmemory", false),
    ("tailrepairs", false),
    ("reclaimed", false),
    ("expired_unfetched", false),
    ("evicted_unfetched", false),
    ("evicted_active", true),
    ("crawler_reclaimed", false),
    ("crawler_items_checked", false),
    ("lrutail_reflocked", false),
    ("moves_to_cold", true),
    ("moves_to_warm", true),
    ("moves_within_lru", true),
    ("direct_reclaims", true),
    ("hits_to_hot", true),
    ("hits_to_warm", true),
    ("hits_to_cold", true),
    ("hits_to_temp", true),
];

/// `stats slabs` lines per class.
const SLAB_LINES: &[&str] = &[
    "chunk_size",
    "chunks_per_page",
    "total_pages",
    "total_chunks",
    "used_chunks",
    "free_chunks",
    "free_chunks_end",
    "get_hits",
    "cmd_set",
    "delete_hits",
    "incr_hits",
    "decr_hits",
    "cas_hits",
    "cas_badval",
    "touch_hits",
];

/// Sums per-class stats over shards, matching classes by id (every shard has the same
/// class table because every shard has the same -n/-f/-I).
pub(super) fn merged_classes(shards: &[ShardSnapshot]) -> Vec<ClassStats> {
    let mut merged: Vec<ClassStats> = Vec::new();
    for c in shards.iter().flat_map(|s| &s.classes) {
        match merged.iter_mut().find(|m| m.id == c.id) {
            Some(m) => m.merge(c),
            None => merged.push(*c),
        }
    }
    merged.sort_by_key(|c| c.id);
    merged
}

fn write_class<'a>(
    out: &mut Vec<u8>,
    prefix: &str,
    c: &ClassStats,
    lines: impl Iterator<Item = &'a str>,
) {
    for name in lines {
        let v = if UNTRACKED.contains(&name) {
            0
        } else {
            let source = SAME_AS.iter().find(|(n, _)| *n == name);
            let source = source.map_or(name, |(_, s)| s);
            declared(c.get(source), source)
        };
        stat(out, &format!("{prefix}{name}"), v);
    }
}

/// `stats items`; `lru_maintainer` adds memcached's segmented-LRU lines.
pub fn write_items(out: &mut Vec<u8>, shards: &[ShardSnapshot], lru_maintainer: bool) {
    let lines = || {
        ITEM_LINES
            .iter()
            .filter(|(_, maintainer)| lru_maintainer || !maintainer)
            .map(|(n, _)| *n)
    };
    for c in merged_classes(shards)
        .iter()
        .filter(|c| c.items > 0 || c.total_pages > 0)
    {
        write_class(out, &format!("items:{}:", c.id), c, lines());
    }
    out.extend_from_slice(b"END\r\n");
}

/// `stats slabs`
/// `extra_malloced`: memcached's T_MEMD_INITIAL_MALLOC hook, counted as already malloced.
pub fn write_slabs(
    out: &mut Vec<u8>,
    shards: &[ShardSnapshot],
    page_size: usize,
    extra_malloced: usize,
) {
    let classes = merged_classes(shards);
    let mut active = 0;
    for c in classes.iter().filter(|c| c.total_pages > 0) {
        active += 1;
        write_class(out, &format!("{}:", c.id), c, SLAB_LINES.iter().copied());
    }
    stat(out, "active_slabs", active);
    let pages: u64 = shards.iter().map(|s| s.store.total_pages).sum();
    stat(
        out,
        "total_malloced",
        pages * page_size as u64 + extra_malloced as u64,
    );
    out.extend_from_slice(b"END\r\n");
}

#[cfg(test)]
pub(super) fn table_names() -> impl Iterator<Item = &'static str> {
    let items = ITEM_LINES.iter().map(|(n, _)| *n);
    items
        .chain(SLAB_LINES.iter().copied())
        .filter(|n| !UNTRACKED.contains(n))
        .map(|n| SAME_AS.iter().find(|(s, _)| *s == n).map_or(n, |(_, d)| d))
}
