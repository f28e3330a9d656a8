//! Every reply text of the text protocol, and the rendering of an op's outcome into it.
//! Writes straight into the caller's output buffer, so a batch of replies costs no
//! allocation beyond that buffer's growth.

use crate::protocol::op::{Arith, Outcome, Removed, Stored};

pub const ERROR: &str = "ERROR";
pub const END: &str = "END";
pub const OK: &str = "OK";
pub const RESET: &str = "RESET";
pub const ERR_FORMAT: &str = "CLIENT_ERROR bad command line format";
pub const ERR_DATA_CHUNK: &str = "CLIENT_ERROR bad data chunk";
pub const ERR_EXPTIME: &str = "CLIENT_ERROR invalid exptime argument";
pub const ERR_DELTA: &str = "CLIENT_ERROR invalid numeric delta argument";
pub const ERR_DELETE_USAGE: &str =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
pub const ERR_SHUTDOWN_MODE: &str = "CLIENT_ERROR invalid shutdown mode";
pub const ERR_SHUTDOWN_DISABLED: &str = "ERROR: shutdown not enabled";
pub const ERR_FLUSH_DISABLED: &str = "CLIENT_ERROR flush_all not allowed";
pub const ERR_STATS_DETAIL: &str = "CLIENT_ERROR usage: stats detail on|off|dump";
pub const ERR_TOO_MANY_CONNS: &str = "ERROR Too many open connections";
pub const ERR_BAD_CLASS: &str = "BADCLASS invalid class id";
pub const CRAWLER_DISABLED: &str = "CLIENT_ERROR lru crawler disabled";
pub const CRAWLER_BUSY: &str = "BUSY currently processing crawler request";
pub const CRAWLER_NOT_STARTED: &str = "NOTSTARTED no items to crawl";
pub const CRAWLER_ERROR: &str = "ERROR an unknown error happened";
pub const CRAWLER_START_FAILED: &str = "ERROR failed to start lru crawler thread";
pub const CRAWLER_SLEEP_TOO_LONG: &str = "CLIENT_ERROR sleep must be one second or less";
pub const METADUMP_PIPELINED: &str = "ERROR cannot pipeline other commands before metadump";
pub const ERR_COMMAND_LINE: &str = "CLIENT_ERROR bad command line";
pub const ERR_SLAB_ID: &str = "CLIENT_ERROR Illegal slab id";
pub const ERR_SHARD_UNAVAILABLE: &str = "SERVER_ERROR shard unavailable";
pub const ERR_WATCH_DISABLED: &str = "CLIENT_ERROR watch commands not allowed";
pub const ERR_WATCH_PIPELINED: &str = "ERROR cannot pipeline other commands before watch";
pub const ERR_WATCH_TOO_MANY: &str = "WATCHER_TOO_MANY log watcher limit reached";
pub const SIZES_DISABLED: &str = "STAT sizes_status disabled";
pub const MEMLIMIT_TOO_SMALL: &str = "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m";
pub const MEMLIMIT_NOT_MB: &str = "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes";
pub const MEMLIMIT_FAILED: &str = "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust";
pub const REASSIGN_BADCLASS: &str = "BADCLASS invalid src or dst class id";
pub const REASSIGN_SAME: &str = "SAME src and dst class are identical";
pub const REASSIGN_DISABLED: &str = "CLIENT_ERROR slab reassignment disabled";

/// How a text request wants its op's outcome written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// `noreply`: say nothing at all.
    pub noreply: bool,
    /// `gets`/`gats`: hits carry their CAS.
    pub cas: bool,
}

impl Reply {
    pub const PLAIN: Reply = Reply {
        noreply: false,
        cas: false,
    };

    pub fn noreply(noreply: bool) -> Reply {
        Reply {
            noreply,
            cas: false,
        }
    }
}

/// Writes `outcome` as memcached's text protocol answers it; `None` is an outcome that
/// never came back from its shard.
pub fn outcome(out: &mut Vec<u8>, outcome: Option<&Outcome<'_>>, how: Reply) {
    let Some(o) = outcome else {
        return line(out, ERR_SHARD_UNAVAILABLE);
    };
    if how.noreply {
        return;
    }
    match *o {
        Outcome::Hit(it) => value(out, it.key, it.flags, it.value, how.cas.then_some(it.cas)),
        Outcome::Miss | Outcome::Done | Outcome::Meta(_) => {}
        Outcome::Stored { result, .. } => line(out, stored(result)),
        // Text delete carries no CAS, so `Exists` never comes back for it.
        Outcome::Deleted(r) => line(
            out,
            if r == Removed::Deleted {
                "DELETED"
            } else {
                "NOT_FOUND"
            },
        ),
        Outcome::Touched(hit) => line(out, if hit { "TOUCHED" } else { "NOT_FOUND" }),
        Outcome::Arith(Arith::Value { value, .. }) => number(out, value),
        Outcome::Arith(Arith::NotFound) => line(out, "NOT_FOUND"),
        // Text incr carries no CAS; were one refused, memcached's word for it is EXISTS.
        Outcome::Arith(Arith::Exists) => line(out, "EXISTS"),
        Outcome::Arith(Arith::NonNumeric) => line(
            out,
            "CLIENT_ERROR cannot increment or decrement non-numeric value",
        ),
        Outcome::Arith(Arith::OutOfMemory) => line(out, "SERVER_ERROR out of memory"),
        Outcome::Lines { text, .. } => out.extend_from_slice(text),
    }
}

fn stored(s: Stored) -> &'static str {
    match s {
        Stored::Stored => "STORED",
        Stored::NotStored => "NOT_STORED",
        Stored::Exists => "EXISTS",
        Stored::NotFound => "NOT_FOUND",
        Stored::TooLarge => "SERVER_ERROR object too large for cache",
        Stored::OutOfMemory => "SERVER_ERROR out of memory storing object",
    }
}

/// `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n`
pub fn value(out: &mut Vec<u8>, key: &[u8], flags: u32, data: &[u8], cas: Option<u64>) {
    let mut num = itoa::Buffer::new();
    out.reserve(key.len() + data.len() + 48);
    out.extend_from_slice(b"VALUE ");
    out.extend_from_slice(key);
    out.push(b' ');
    out.extend_from_slice(num.format(flags).as_bytes());
    out.push(b' ');
    out.extend_from_slice(num.format(data.len()).as_bytes());
    if let Some(cas) = cas {
        out.push(b' ');
        out.extend_from_slice(num.format(cas).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// A whole status line such as `STORED`.
pub fn line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The reply to incr/decr: the new value alone on a line.
pub fn number(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `VERSION <version>`
pub fn version(out: &mut Vec<u8>, version: &str) {
    out.extend_from_slice(b"VERSION ");
    line(out, version);
}

/// `STAT <name> <value>\r\n`
pub fn stat(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    use std::io::Write;
    let _ = write!(out, "STAT {name} {value}\r\n");
}

/// One item as `lru_crawler metadump` lists it.
pub struct DumpEntry<'a> {
    pub key: &'a [u8],
    /// Absolute unix seconds, -1 for never.
    pub exp: i64,
    pub last_access: u64,
    pub cas: u64,
    pub fetched: bool,
    pub class: u32,
    pub size: u32,
}

/// `key=<uri-encoded key> exp=.. la=.. cas=.. fetch=yes|no cls=.. size=..\n`
pub fn metadump_line(out: &mut Vec<u8>, e: &DumpEntry<'_>) {
    use std::io::Write;
    out.extend_from_slice(b"key=");
    for &b in e.key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    let _ = writeln!(
        out,
        " exp={} la={} cas={} fetch={} cls={} size={}",
        e.exp,
        e.last_access,
        e.cas,
        if e.fetched { "yes" } else { "no" },
        e.class,
        e.size
    );
}

/// `ITEM <key> [<value bytes> b; <exptime> s]\r\n`, as `stats cachedump` lists an item
/// (`exptime` absolute unix seconds, 0 for never).
pub fn cachedump_line(out: &mut Vec<u8>, key: &[u8], value_len: u32, exptime: u32) {
    use std::io::Write;
    out.extend_from_slice(b"ITEM ");
    out.extend_from_slice(key);
    let _ = write!(out, " [{value_len} b; {exptime} s]\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::op::Item;

    fn rendered(o: Option<Outcome<'_>>, how: Reply) -> String {
        let mut out = Vec::new();
        outcome(&mut out, o.as_ref(), how);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn value_lines() {
        let mut out = Vec::new();
        value(&mut out, b"k", 5, b"a\r\nb", None);
        value(&mut out, b"k", 0, b"", Some(7));
        number(&mut out, u64::MAX);
        stat(&mut out, "pid", 42);
        assert_eq!(
            out,
            b"VALUE k 5 4\r\na\r\nb\r\nVALUE k 0 0 7\r\n\r\n18446744073709551615\r\nSTAT pid 42\r\n"
        );
    }

    #[test]
    fn outcomes_in_memcached_words() {
        let hit = Outcome::Hit(Item {
            key: b"k",
            flags: 3,
            value: b"v",
            cas: 9,
        });
        let gets = Reply {
            noreply: false,
            cas: true,
        };
        assert_eq!(rendered(Some(hit), Reply::PLAIN), "VALUE k 3 1\r\nv\r\n");
        assert_eq!(rendered(Some(hit), gets), "VALUE k 3 1 9\r\nv\r\n");
        assert_eq!(rendered(Some(Outcome::Miss), gets), "");
        let too_large = Outcome::Stored {
            result: Stored::TooLarge,
            cas: 0,
        };
        assert_eq!(
            rendered(Some(too_large), Reply::PLAIN),
            "SERVER_ERROR object too large for cache\r\n"
        );
        assert_eq!(rendered(Some(too_large), Reply::noreply(true)), "");
        assert_eq!(
            rendered(
                Some(Outcome::Arith(Arith::Value { value: 12, cas: 3 })),
                Reply::PLAIN
            ),
            "12\r\n"
        );
        assert_eq!(
            rendered(Some(Outcome::Deleted(Removed::NotFound)), Reply::PLAIN),
            "NOT_FOUND\r\n"
        );
        assert_eq!(
            rendered(
                Some(Outcome::Lines {
                    text: b"key=a\n",
                    resume: None
                }),
                Reply::PLAIN
            ),
            "key=a\n"
        );
        let mut dump = Vec::new();
        let entry = DumpEntry {
            key: b"a b/c",
            exp: -1,
            last_access: 5,
            cas: 6,
            fetched: true,
            class: 1,
            size: 70,
        };
        metadump_line(&mut dump, &entry);
        assert_eq!(
            dump,
            b"key=a%20b%2Fc exp=-1 la=5 cas=6 fetch=yes cls=1 size=70\n"
        );
        // A lost shard is reported even under noreply: the client must not wait forever.
        assert_eq!(
            rendered(None, Reply::noreply(true)),
            "SERVER_ERROR shard unavailable\r\n"
        );
    }
}
