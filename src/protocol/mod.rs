//! memcached wire protocol: bytes in -> [`text::Command`], results -> bytes out.
//! Pure: no I/O, no async, so it can be unit-tested and fuzzed on its own.

pub mod number;
pub mod peek;
pub mod response;
pub mod text;

pub use text::{Command, Parsed, StoreKind, parse};
