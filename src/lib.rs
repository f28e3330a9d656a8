//! corecached: a memcached-compatible, thread-per-core cache server.
//! `storage` and `protocol` are pure (no I/O, no async); `server` is the only glommio layer.
pub mod config;
pub mod counters;
pub mod protocol;
pub mod record;
pub mod replication;
pub mod server;
pub mod stats;
pub mod storage;
