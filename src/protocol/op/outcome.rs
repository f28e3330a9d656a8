//! What executing an [`Op`](super::Op) produced, in no protocol's words: each front end
//! turns an outcome into its own reply bytes.

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
    /// One step of a dump's lines, and the cursor of the next step (None: this shard is
    /// done).
    Lines {
        text: &'a [u8],
        resume: Option<u64>,
    },
    /// Done, with nothing to report (flush, stats, apply, a refused write's cleanup).
    Done,
}
