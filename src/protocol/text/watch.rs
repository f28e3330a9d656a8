//! memcached's `watch` log stream as text: which event kinds a `watch` line asks for, and
//! every log line a watcher is sent (`ts=... gid=... type=item_get ...`), in memcached
//! 1.6's formats (its logger.c), keys URI-encoded as memcached encodes them.

use super::words::Keys;
use std::io::Write;

/// Event kinds, as the bits memcached gives them (LOG_*). Only some are ever emitted here;
/// the others are accepted by `watch` and stay silent, as they do in a memcached build
/// without the proxy or extstore.
pub const SYSEVENTS: u32 = 1 << 1;
pub const FETCHERS: u32 = 1 << 2;
pub const MUTATIONS: u32 = 1 << 3;
pub const CONNEVENTS: u32 = 1 << 5;
pub const EVICTIONS: u32 = 1 << 6;
pub const RAWCMDS: u32 = 1 << 9;
pub const PROXYREQS: u32 = 1 << 10;
pub const PROXYEVENTS: u32 = 1 << 11;
pub const PROXYUSER: u32 = 1 << 12;
/// memcached 1.6.19's `deletions`; 1.6.18 answers `ERROR` to it.
pub const DELETIONS: u32 = 1 << 13;

/// memcached's watcher limit (WATCHER_LIMIT).
pub const MAX_WATCHERS: usize = 20;

const NAMES: &[(&[u8], u32)] = &[
    (b"rawcmds", RAWCMDS),
    (b"evictions", EVICTIONS),
    (b"fetchers", FETCHERS),
    (b"mutations", MUTATIONS),
    (b"sysevents", SYSEVENTS),
    (b"connevents", CONNEVENTS),
    (b"proxyreqs", PROXYREQS),
    (b"proxyevents", PROXYEVENTS),
    (b"proxyuser", PROXYUSER),
    (b"deletions", DELETIONS),
];

/// The kinds a `watch` line's arguments ask for (none: fetchers, as in memcached); `None`
/// for an unknown word, which memcached answers with `ERROR`.
pub fn parse_kinds(args: Keys<'_>) -> Option<u32> {
    let mut kinds = 0;
    for word in args.iter() {
        kinds |= NAMES.iter().find(|(n, _)| *n == word)?.1;
    }
    Some(if kinds == 0 { FETCHERS } else { kinds })
}

/// What a lookup found: memcached's `was_found`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    NotFound,
    Found,
    Flushed,
    Expired,
}

/// A store's result, in memcached's `store_item_type` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreStatus {
    NotStored,
    Stored,
    Exists,
    NotFound,
    TooLarge,
    NoMemory,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreCmd {
    Add,
    Set,
    Replace,
    Append,
    Prepend,
    Cas,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Local,
    Tcp,
    Udp,
}

/// Why a connection closed, in memcached's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Error,
    Normal,
    IdleTimeout,
    Shutdown,
}

/// A client's end of a connection: `rip` is the address ("unix" on the unix socket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer<'a> {
    pub rip: &'a str,
    pub rport: u16,
    pub transport: Transport,
}

/// One event, as plain data; `cfd` is the connection's id as `stats conns` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    ItemGet {
        key: &'a [u8],
        found: Found,
        clsid: u32,
        cfd: u64,
        size: usize,
    },
    /// `ttl` is the seconds left (0: none); size, class and ttl are the new item's, stored
    /// or not.
    ItemStore {
        key: &'a [u8],
        status: StoreStatus,
        cmd: StoreCmd,
        ttl: u32,
        clsid: u32,
        cfd: u64,
        size: usize,
    },
    /// `ttl` is -1 for an item that never expires; `la` the seconds since its last write.
    Eviction {
        key: &'a [u8],
        fetched: bool,
        ttl: i64,
        la: u32,
        clsid: u32,
        size: usize,
    },
    /// memcached 1.6.19's line for a delete that removed an item; `meta` for `md`.
    Deleted {
        key: &'a [u8],
        meta: bool,
        clsid: u32,
        size: usize,
    },
    ConnNew {
        peer: Peer<'a>,
        cfd: u64,
    },
    ConnClose {
        peer: Peer<'a>,
        reason: CloseReason,
        cfd: u64,
    },
}

impl Event<'_> {
    /// The kind a watcher must have asked for to be sent this event.
    pub fn kind(&self) -> u32 {
        match self {
            Event::ItemGet { .. } => FETCHERS,
            Event::ItemStore { .. } => MUTATIONS,
            Event::Eviction { .. } => EVICTIONS,
            Event::Deleted { .. } => DELETIONS,
            Event::ConnNew { .. } | Event::ConnClose { .. } => CONNEVENTS,
        }
    }
}

/// When an event happened: unix seconds and microseconds (printed unpadded, as memcached's
/// `%d` prints them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub secs: u64,
    pub micros: u32,
}

/// Appends `e`'s log line, newline-terminated.
pub fn render(out: &mut Vec<u8>, at: Stamp, gid: u64, e: &Event<'_>) {
    let _ = write!(out, "ts={}.{} gid={gid} ", at.secs, at.micros);
    match *e {
        Event::ItemGet {
            key,
            found,
            clsid,
            cfd,
            size,
        } => {
            out.extend_from_slice(b"type=item_get key=");
            uri_encode(out, key);
            let status = ["not_found", "found", "flushed", "expired"][found as usize];
            let _ = write!(out, " status={status} clsid={clsid} cfd={cfd} size={size}");
        }
        Event::ItemStore { .. } => item_store(out, e),
        Event::Eviction {
            key,
            fetched,
            ttl,
            la,
            clsid,
            size,
        } => {
            out.extend_from_slice(b"type=eviction key=");
            uri_encode(out, key);
            let fetch = if fetched { "yes" } else { "no" };
            let _ = write!(
                out,
                " fetch={fetch} ttl={ttl} la={la} clsid={clsid} size={size}"
            );
        }
        Event::Deleted {
            key,
            meta,
            clsid,
            size,
        } => {
            out.extend_from_slice(b"type=deleted key=");
            uri_encode(out, key);
            let cmd = if meta { "md" } else { "delete" };
            let _ = write!(out, " cmd={cmd} clsid={clsid} size={size}");
        }
        Event::ConnNew { peer, cfd } => {
            out.extend_from_slice(b"type=conn_new ");
            peer_fields(out, &peer);
            let _ = write!(out, " cfd={cfd}");
        }
        Event::ConnClose { peer, reason, cfd } => {
            out.extend_from_slice(b"type=conn_close ");
            peer_fields(out, &peer);
            let reason = ["error", "normal", "idle_timeout", "shutdown"][reason as usize];
            let _ = write!(out, " reason={reason} cfd={cfd}");
        }
    }
    out.push(b'\n');
}

fn item_store(out: &mut Vec<u8>, e: &Event<'_>) {
    let Event::ItemStore {
        key,
        status,
        cmd,
        ttl,
        clsid,
        cfd,
        size,
    } = *e
    else {
        return;
    };
    out.extend_from_slice(b"type=item_store key=");
    uri_encode(out, key);
    let status = [
        "not_stored",
        "stored",
        "exists",
        "not_found",
        "too_large",
        "no_memory",
    ][status as usize];
    let cmd = ["add", "set", "replace", "append", "prepend", "cas"][cmd as usize];
    let _ = write!(
        out,
        " status={status} cmd={cmd} ttl={ttl} clsid={clsid} cfd={cfd} size={size}"
    );
}

fn peer_fields(out: &mut Vec<u8>, p: &Peer<'_>) {
    let transport = ["local", "tcp", "udp"][p.transport as usize];
    let _ = write!(out, "rip={} rport={} transport={transport}", p.rip, p.rport);
}

/// The line a watcher gets before the next line it is sent after `n` were dropped for it.
pub fn skipped(out: &mut Vec<u8>, n: u64) {
    let _ = writeln!(out, "skipped={n}");
}

/// Percent-encodes every byte but letters, digits and `-._~` (memcached's `uriencode`).
pub fn uri_encode(out: &mut Vec<u8>, key: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
