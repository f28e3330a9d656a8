//! One shard's cache store: slab arena, compact items, intrusive index and LRU, memcached
//! command semantics. Pure: no I/O, no async, no locks; one thread owns a `Store`.
//!
//! Layers, top down: `store` (memcached semantics, the mutation log, replication's side),
//! `memory` (allocation, eviction policy, reclaim crawl, the one unlink hook), and under it
//! `slab`, `index`, `lru` and `item`; `clock` holds time, versions and visibility.

mod arena;
mod clock;
mod hash;
mod index;
mod item;
mod lru;
pub mod marks;
mod memory;
mod mutation_log;
mod prefetch;
mod region;
mod slab;
mod stats;
mod store;
#[cfg(test)]
mod tests_model;
mod tombstones;
mod types;

pub use clock::{unix_ms, unix_us};
pub use hash::{hash_key, shard_of_hash};
pub use prefetch::Prefetch;
pub use stats::{ClassStats, StoreStats};
pub use store::{CacheDumpEntry, ItemMeta, Store};
pub use types::{
    DeleteResult, DeltaResult, Evicted, ItemView, MAX_KEY_LEN, MetaArithResult, MetaDeleteResult,
    MetaGetReq, MetaItem, MetaTimes, MetaTtl, Peek, StoreConfig, StoreMode, StoreResult,
};
