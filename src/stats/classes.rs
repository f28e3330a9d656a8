//! `stats items` and `stats slabs`: per slab class, summed over shards, in memcached's order.

use super::{ShardSnapshot, declared, stat};
use crate::storage::ClassStats;

/// memcached names we print but do not track (always 0 here).
const UNTRACKED: &[&str] = &[
    "evicted_time",
    "tailrepairs",
    "free_chunks_end",
    "lrutail_reflocked",
];

/// `stats items` lines per class.
const ITEM_LINES: &[&str] = &[
    "number",
    "age",
    "mem_requested",
    "evicted",
    "evicted_nonzero",
    "evicted_time",
    "outofmemory",
    "tailrepairs",
    "reclaimed",
    "expired_unfetched",
    "evicted_unfetched",
    "crawler_reclaimed",
    "crawler_items_checked",
    "lrutail_reflocked",
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
fn merged_classes(shards: &[ShardSnapshot]) -> Vec<ClassStats> {
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

fn write_class(out: &mut Vec<u8>, prefix: &str, c: &ClassStats, lines: &[&str]) {
    for name in lines {
        let v = if UNTRACKED.contains(name) {
            0
        } else {
            declared(c.get(name), name)
        };
        stat(out, &format!("{prefix}{name}"), v);
    }
}

/// `stats items`
pub fn write_items(out: &mut Vec<u8>, shards: &[ShardSnapshot]) {
    for c in merged_classes(shards)
        .iter()
        .filter(|c| c.items > 0 || c.total_pages > 0)
    {
        write_class(out, &format!("items:{}:", c.id), c, ITEM_LINES);
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
        write_class(out, &format!("{}:", c.id), c, SLAB_LINES);
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
    ITEM_LINES
        .iter()
        .chain(SLAB_LINES)
        .copied()
        .filter(|n| !UNTRACKED.contains(n))
}
