//! memcached wire protocols over one operation type: each front end parses bytes into
//! [`op::Op`]s and renders their [`op::Outcome`]s back into its own reply bytes.
//! Pure: no I/O, no async, no storage, so it can be unit-tested and fuzzed on its own.

pub mod binary;
pub mod meta;
pub mod number;
pub mod op;
pub mod peek;
pub mod text;
pub mod udp;

pub use op::{Op, Outcome, StoreKind};
