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
    /// The new value and the item's new CAS (0 under `-C`).
    Value {
        value: u64,
        cas: u64,
    },
    NotFound,
    /// A CAS was given and the item's differs.
    Exists,
    NonNumeric,
    OutOfMemory,
}

/// The result of a delete; `Exists` is a CAS mismatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removed {
    Deleted,
    NotFound,
    Exists,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    Hit(Item<'a>),
    Miss,
    /// A write's result and the CAS the item got (0 when not stored, and under `-C`).
    Stored {
        result: Stored,
        cas: u64,
    },
    Deleted(Removed),
    /// touch: whether the key was there.
    Touched(bool),
    Arith(Arith),
    /// One step of a dump's lines, and the cursor of the next step (None: this shard is
    /// done).
    Lines {
        text: &'a [u8],
        resume: Option<u64>,
    },
    /// A meta command's result.
    Meta(MetaOutcome<'a>),
    /// Done, with nothing to report (flush, stats, apply, a refused write's cleanup).
    Done,
}
