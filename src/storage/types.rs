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
    /// The view of item `b`, whose header is `hd`; `cas_on` is false under `-C`.
    #[inline(always)]
    pub(super) fn of(hd: &item::Head, b: &'a [u8], cas_on: bool) -> Self {
        let (key, value) = hd.key_value(b);
        ItemView {
            key,
            value,
            flags: hd.flags(b),
            cas: if cas_on { hd.ver } else { 0 },
        }
    }
}
