//! What executing an [`Op`](super::Op) produced, in no protocol's words: each front end
//! turns an outcome into its own reply bytes.

use super::MetaOutcome;

/// A stored item as a lookup returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    pub key: &'a [u8],
    pub flags: u32,
    pub value: &'a [u8],
    /// 0 when CAS is disabled (`-C`).
    pub cas: u64,
}

/// The result of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    Stored,
    NotStored,
    Exists,
    NotFound,
    TooLarge,
    OutOfMemory,
}

/// The result of incr/decr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    Value(u64),
    NotFound,
    NonNumeric,
    OutOfMemory,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    Hit(Item<'a>),
    Miss,
    Stored(Stored),
    /// delete: whether the key was there.
    Deleted(bool),
    /// touch: whether the key was there.
    Touched(bool),
    Arith(Arith),
    /// Lines the shard produced whole (metadump).
    Lines(&'a [u8]),
    /// A meta command's result.
    Meta(MetaOutcome<'a>),
    /// Done, with nothing to report (flush, stats, apply, a refused write's cleanup).
    Done,
}
