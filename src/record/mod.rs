//! The write-record format: how a successful write is encoded in the store's mutation log,
//! the replication backlog, the twin link's data frames and cross-shard batches. A leaf
//! module (std only), so every layer that carries writes can use it.
//!
//! A record is laid out exactly as the twin link's data frame (little-endian), so the
//! backlog only stamps the sequence number into each record and never re-encodes:
//!
//! `len: u32` (bytes after this field) | `kind: u8` | `seq: u64` (0 until the backlog numbers
//! it) | body, where the body is
//! - set: `version: u64 | flags: u32 | exptime: u32 | key_len: u32 | key | value_len: u32 | value`
//! - delete: `version: u64 | key_len: u32 | key`
//! - flush: `before_version: u64 | at_unix_secs: u32`
//! - mark: `version: u64 | bits: u8 | key_len: u32 | key` (the meta protocol's per-item
//!   state, `storage::marks`, of the key's item written at `version` or touched since)

mod decode;
mod encode;
mod mutation;
mod reader;
#[cfg(test)]
mod tests;

pub use decode::{decode, decode_record, records};
pub use encode::{put, put_set, record_len, stamp};
pub use mutation::{Mutation, MutationRef};
pub use reader::{Reader, TRUNCATED};

pub const SET: u8 = 5;
pub const DELETE: u8 = 6;
pub const FLUSH: u8 = 7;
pub const MARK: u8 = 11;
/// Where a record's sequence number sits.
pub const SEQ_AT: usize = 5;
/// Length field, kind and sequence: what precedes every body.
pub const HEADER: usize = 13;
