//! The meta protocol's op and outcome data: what a meta command asks of the owning shard
//! (in numbers, already parsed) and what the shard reports back, with enough of the item's
//! state (times, anti-stampede bits) for the front end to write flags in request order.

use super::Item;

/// Which meta command an [`Op::Meta`](super::Op::Meta) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaCmd {
    Get,
    Set,
    Delete,
    Arith,
    Debug,
}

/// The request's flags that change what the shard does (return flags are the front end's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaArgs {
    /// `T`: new TTL.
    pub touch: Option<i32>,
    /// `N`: create on miss with this TTL.
    pub vivify: Option<i32>,
    /// `R`: win a recache when the TTL left is below this.
    pub recache: Option<i32>,
    /// `C`: compare CAS.
    pub cas: Option<u64>,
    /// `F`: client flags (ms).
    pub flags: u32,
    /// `M`: mode character, 0 when absent.
    pub mode: u8,
    /// `D`: delta (ma), 1 by default.
    pub delta: u64,
    /// `J`: initial value on a vivified miss (ma).
    pub initial: u64,
    /// `I`: invalidate (md) or store stale (ms).
    pub stale: bool,
    /// `u`: no LRU bump.
    pub no_bump: bool,
    /// `b`: the key was base64 (the item remembers it, for `k`).
    pub binary: bool,
    /// `T` comes before `R` on the line (R then judges the new TTL).
    pub touch_before_recache: bool,
    /// `N` comes after `T` on the line (a vivified item then keeps N's TTL).
    pub vivify_after_touch: bool,
    /// ms whose value is over the item size limit: drop the old item, store nothing.
    pub too_large: bool,
    /// mg/ma whose opaque is too long: memcached stops writing the reply at it, so only the
    /// TTL flags before it took effect (the parser drops the others), no win token is
    /// handed out and the item is not bumped.
    pub opaque_error: bool,
}

/// The times a reply's `t` flag needs: TTLs are written in request order, so `t` before
/// `T` shows the old TTL. All absolute unix seconds, 0 = never.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaTimes {
    pub now: u32,
    /// The item's exptime before this command.
    pub exp: u32,
    /// `T`'s exptime.
    pub exp_touch: u32,
    /// `N`'s exptime (applies only when `created`).
    pub exp_vivify: u32,
    /// The item was made by this command (N on a miss).
    pub created: bool,
}

/// An mg hit: the item and what mg's flags report of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaHit<'a> {
    pub item: Item<'a>,
    pub times: MetaTimes,
    /// Seconds since the last access, before this command.
    pub idle: u32,
    /// Fetched before this command.
    pub fetched: bool,
    /// Z: a win token was already handed out.
    pub token_sent: bool,
    /// X: the item is stale.
    pub stale: bool,
    /// W: this request won the right to recache.
    pub won: bool,
    /// The item's key was set in base64.
    pub binary: bool,
}

/// Result codes of ms/md/ma.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaStatus {
    Stored,
    NotStored,
    Exists,
    NotFound,
}

/// Errors a meta command can meet on the shard (never suppressed by `q`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaError {
    NonNumeric,
    TooLarge,
    OutOfMemory,
    /// ma could not create its item.
    VivifyOutOfMemory,
}

/// `me`'s debug line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaDebug<'a> {
    pub key: &'a [u8],
    pub binary: bool,
    /// Seconds until expiry as memcached prints it (now - exptime), -1 for never.
    pub exp: i32,
    pub idle: u32,
    pub cas: u64,
    pub fetched: bool,
    pub class: u32,
    pub size: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaOutcome<'a> {
    Hit(MetaHit<'a>),
    /// mg's EN, md's and ma's NF, me's EN.
    Miss,
    /// ms and md; `cas` is the stored item's (0 when nothing was stored).
    Status {
        status: MetaStatus,
        cas: u64,
    },
    /// ma's new value.
    Counter {
        value: u64,
        cas: u64,
        times: MetaTimes,
    },
    Error(MetaError),
    Debug(MetaDebug<'a>),
}
