//! The one operation type: every front end (text today; meta and binary next) parses its
//! requests into [`Op`]s, the router carries them to the owning shard with one codec, the
//! shard executes them into a protocol-neutral [`Outcome`], and the front end that asked
//! renders that outcome in its own reply format.

mod codec;
mod meta;
mod meta_codec;
mod outcome;

pub use codec::{OpIter, decode_op, decode_outcome, encode_apply, encode_op, encode_outcome};
pub use meta::{
    MetaArgs, MetaCmd, MetaDebug, MetaError, MetaHit, MetaOutcome, MetaStatus, MetaTimes,
};
pub use outcome::{Arith, Item, Outcome, Removed, Stored};

/// Which storage command a write is; `Cas` carries the client's CAS token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas(u64),
    /// append/prepend only onto the item with this CAS (the binary protocol's CAS field).
    AppendCas(u64),
    PrependCas(u64),
}

/// What incr/decr creates on a miss: an item holding `value` (the delta is not applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArithInit {
    pub value: u64,
    pub exptime: i32,
}

/// One unit of work for the shard that owns its key, or for every shard when it has none.
/// Bytes are borrowed: from the read buffer on the local path, from a batch remotely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// A lookup; `touch` also sets a new exptime (gat).
    Get {
        key: &'a [u8],
        touch: Option<i32>,
    },
    Store {
        kind: StoreKind,
        key: &'a [u8],
        flags: u32,
        exptime: i32,
        value: &'a [u8],
    },
    /// A write refused as larger than the largest item: memcached still drops the old item.
    TooLarge {
        kind: StoreKind,
        key: &'a [u8],
    },
    /// `cas` 0 deletes whatever is there; otherwise only the item with that CAS.
    Delete {
        key: &'a [u8],
        cas: u64,
    },
    Arith {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        /// Create the item on a miss (binary incr with an initial value, meta's `N`/`J`).
        init: Option<ArithInit>,
        /// Only on the item with this CAS; 0 = any (the binary protocol's CAS field).
        cas: u64,
    },
    Touch {
        key: &'a [u8],
        exptime: i32,
    },
    Flush {
        delay: i32,
    },
    /// The shard's counters, for `stats`; they travel beside the outcomes, not in them.
    Stats,
    ResetStats,
    /// A twin's write: one encoded replication record.
    Apply(&'a [u8]),
    /// One step of `lru_crawler metadump` of the classes in the mask (bit i = class
    /// i + 1), from `cursor` (0 first); answered by [`Outcome::Lines`] with the cursor of
    /// the next step.
    Dump {
        classes: u64,
        cursor: u64,
    },
    /// One step of `stats cachedump`: at most `max` items of class id `class`, from
    /// `cursor` (0 first).
    CacheDump {
        class: u32,
        max: u32,
        cursor: u64,
    },
    /// A meta command (mg, ms, md, ma, me); `value` is ms's data, empty otherwise.
    Meta {
        cmd: MetaCmd,
        key: &'a [u8],
        args: MetaArgs,
        value: &'a [u8],
    },
    /// `cache_memlimit`: the shard's new share of item memory, in bytes.
    MemLimit {
        bytes: u64,
    },
    /// `lru_crawler crawl`: the shard starts crawling the classes in the mask (bit i =
    /// class i + 1), at most `tocrawl` items per class (0: all), in steps of its own.
    Crawl {
        classes: u64,
        tocrawl: u32,
    },
}

impl<'a> Op<'a> {
    /// The key this op addresses; `None` for ops every shard runs (flush, stats, ...).
    pub fn key(&self) -> Option<&'a [u8]> {
        match *self {
            Op::Get { key, .. }
            | Op::Store { key, .. }
            | Op::TooLarge { key, .. }
            | Op::Delete { key, .. }
            | Op::Arith { key, .. }
            | Op::Touch { key, .. }
            | Op::Meta { key, .. } => Some(key),
            Op::Flush { .. }
            | Op::Stats
            | Op::ResetStats
            | Op::Apply(_)
            | Op::Dump { .. }
            | Op::CacheDump { .. }
            | Op::MemLimit { .. }
            | Op::Crawl { .. } => None,
        }
    }
}

/// Generators shared by the protocol's property tests.
#[cfg(test)]
pub(crate) mod strategies {
    use super::StoreKind;
    use proptest::prelude::*;

    pub fn kind() -> impl Strategy<Value = StoreKind> {
        prop_oneof![
            Just(StoreKind::Set),
            Just(StoreKind::Add),
            Just(StoreKind::Replace),
            Just(StoreKind::Append),
            Just(StoreKind::Prepend),
            any::<u64>().prop_map(StoreKind::Cas),
        ]
    }

    /// `kind`, and the kinds only the binary protocol can ask for.
    pub fn all_kinds() -> impl Strategy<Value = StoreKind> {
        prop_oneof![
            kind(),
            any::<u64>().prop_map(StoreKind::AppendCas),
            any::<u64>().prop_map(StoreKind::PrependCas),
        ]
    }
}
