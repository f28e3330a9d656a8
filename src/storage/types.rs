//! The store's public vocabulary: its configuration, the modes and results of commands, and
//! the borrowed view of an item that a read returns.

use super::item;

/// memcached's KEY_MAX_LENGTH.
pub const MAX_KEY_LEN: usize = 250;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoreConfig {
    /// Bytes of item memory for this shard; pages are taken lazily and never exceed it.
    pub mem_limit: usize,
    pub page_size: usize,
    /// Smallest chunk (header + key + value), memcached -n.
    pub min_chunk: usize,
    /// memcached -f.
    pub growth_factor: f64,
    /// memcached -I: largest item including its header.
    pub max_item_size: usize,
    /// false under -M: a full store answers OutOfMemory.
    pub evictions: bool,
    /// false under -C: CAS values read as 0 and `cas` answers EXISTS for present items.
    pub cas: bool,
    /// Low 8 bits of every version (replication tie-break).
    pub node_id: u8,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            mem_limit: 64 << 20,
            page_size: 1 << 20,
            min_chunk: 48,
            growth_factor: 1.25,
            max_item_size: 1 << 20,
            evictions: true,
            cas: true,
            node_id: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas(u64),
    /// append/prepend only onto the item with this CAS (memcached's binary protocol).
    AppendCas(u64),
    PrependCas(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreResult {
    Stored,
    NotStored,
    Exists,
    NotFound,
    TooLarge,
    OutOfMemory,
}

/// What a delete found: `Exists` is a present item whose CAS differs from the one asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteResult {
    Deleted,
    NotFound,
    Exists,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeltaResult {
    Value(u64),
    NotFound,
    /// The item's CAS is not the one asked for.
    Exists,
    NonNumeric,
    OutOfMemory,
}

/// A borrowed item; valid until the next call on the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemView<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub flags: u32,
    pub cas: u64,
}

impl<'a> ItemView<'a> {
    /// The view of item `b`, whose header is `hd`, with the CAS clients see.
    #[inline(always)]
    pub(super) fn of(hd: &item::Head, b: &'a [u8], cas: u64) -> Self {
        let (key, value) = hd.key_value(b);
        ItemView {
            key,
            value,
            flags: hd.flags(b),
            cas,
        }
    }
}

/// The TTL changes a meta command asks for, as command exptimes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaTtl {
    /// `T`.
    pub touch: Option<i64>,
    /// `N`: on a miss, create the item with this TTL.
    pub vivify: Option<i64>,
    /// `N` comes after `T` on the line, so a created item ends with N's TTL.
    pub vivify_after_touch: bool,
}

/// What mg asks of the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaGetReq {
    pub ttl: MetaTtl,
    /// `R`: win a recache when the TTL left is below this.
    pub recache: Option<i64>,
    /// `T` comes before `R`, so R judges the new TTL.
    pub touch_before_recache: bool,
    /// false under `u`.
    pub bump: bool,
    /// The reply will be an error: no win token is handed out.
    pub no_win: bool,
}

/// The TTLs a meta reply's `t` flags show, in absolute unix seconds (0 = never).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaTimes {
    pub now: u32,
    /// Before the command (0 for an item it created).
    pub exp: u32,
    pub exp_touch: u32,
    pub exp_vivify: u32,
    pub created: bool,
}

/// An item as a meta command sees it: the state from before the command, and what it won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaItem<'a> {
    pub view: ItemView<'a>,
    pub times: MetaTimes,
    /// Seconds since the item was last written.
    pub idle: u32,
    pub fetched: bool,
    pub token_sent: bool,
    pub stale: bool,
    pub won: bool,
    pub binary: bool,
    /// Slab class id (1-based) and bytes the item takes.
    pub class: u32,
    pub size: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaDeleteResult {
    Deleted,
    NotFound,
    Exists,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaArithResult {
    Value {
        value: u64,
        cas: u64,
        times: MetaTimes,
    },
    NotFound,
    Exists,
    NonNumeric,
    OutOfMemory,
    VivifyOutOfMemory,
}

/// What a key holds, looked at without changing anything (what `watch fetchers` reports a
/// command found, before it runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peek {
    Missing,
    Expired,
    Flushed,
    /// A live item: its slab class id (1-based) and value length.
    Live {
        class: u32,
        size: usize,
    },
}

/// An item evicted to make room, as plain data for `watch evictions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evicted {
    pub key: Vec<u8>,
    pub fetched: bool,
    /// Seconds it had left, or -1 for an item that never expires.
    pub ttl: i64,
    /// Seconds since it was last written (items here keep no access time).
    pub idle: u32,
    /// Slab class id (1-based) and value length.
    pub class: u32,
    pub size: usize,
}
