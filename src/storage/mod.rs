//! One shard's cache store: slab arena, compact items, intrusive index and LRU, memcached
//! command semantics. Pure: no I/O, no async, no locks; one thread owns a `Store`.

mod hash;
mod index;
mod item;
mod lru;
mod mutation_log;
mod prefetch;
mod region;
mod slab;
mod stats;
mod store;
#[cfg(test)]
mod tests_model;

pub use hash::{hash_key, shard_of_hash};
pub use prefetch::Prefetch;
pub use stats::{ClassStats, StoreStats};
pub use store::{
    DeltaResult, ItemMeta, ItemView, MAX_KEY_LEN, Store, StoreConfig, StoreMode, StoreResult,
};
