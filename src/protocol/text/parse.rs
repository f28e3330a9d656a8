//! Incremental parser for memcached's text protocol, faithful to memcached 1.6's
//! `proto_text.c`: same tokenizing (single spaces), same token-count checks, same error
//! texts, same cases that close the connection. Never panics on any input.

use super::render::{
    ERR_DATA_CHUNK, ERR_DELETE_USAGE, ERR_DELTA, ERR_EXPTIME, ERR_FORMAT, ERR_SHUTDOWN_MODE, ERROR,
};
use super::words::{Keys, Words, find};
use crate::protocol::number::{parse_flags, parse_i32, parse_u64};
use crate::protocol::op::{Op, StoreKind};

/// Longest key memcached accepts.
pub const KEY_MAX_LENGTH: usize = 250;
/// memcached closes a connection whose buffered line has no newline past this many bytes,
/// unless it is a (possibly huge) multi-get.
pub const LINE_LIMIT: usize = 2048;
/// memcached's MAX_TOKENS less the terminal token: more words than this is never valid
/// outside a get.
const MAX_WORDS: usize = 24;

/// One complete text request: an op for the shard that owns its key, or something the
/// connection answers itself.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// set/add/replace/append/prepend/cas, delete, incr/decr, touch.
    Op {
        op: Op<'a>,
        noreply: bool,
    },
    /// `get`/`gets`/`gat`/`gats`; `keys` holds the space-separated keys, each validated.
    Get {
        keys: Keys<'a>,
        cas: bool,
        touch: Option<i32>,
    },
    /// `delay` is None when it did not parse (memcached still counts the command).
    FlushAll {
        delay: Option<i32>,
        noreply: bool,
    },
    Stats {
        args: Keys<'a>,
    },
    LruCrawler {
        args: Keys<'a>,
    },
    /// `slabs reassign|automove ...`, answered by the connection.
    Slabs {
        args: Keys<'a>,
    },
    /// `watch [kinds...]`: the connection becomes a log stream; `kinds` is None for an
    /// unknown word.
    Watch {
        kinds: Option<u32>,
    },
    /// `cache_memlimit <megabytes>`; the number parsed, not yet checked.
    CacheMemlimit {
        megabytes: u64,
        noreply: bool,
    },
    Version,
    /// `refresh_certs`: reload the TLS certificate and key (memcached's -Z).
    RefreshCerts {
        noreply: bool,
    },
    Verbosity {
        noreply: bool,
    },
    Quit,
    Shutdown {
        graceful: bool,
    },
    /// A meta command for the shard that owns its key.
    Meta(crate::protocol::meta::Request<'a>),
    /// `mn`: answered `MN` in its place.
    MetaNoop,
    /// A request memcached answers with an error line (suppressed under noreply).
    Error {
        msg: &'static str,
        noreply: bool,
    },
}

// A meta request makes the variants larger than the text ones (about 150 bytes); the
// parser returns them by value, and boxing would allocate per meta request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// More bytes are needed before anything can be decided.
    Incomplete,
    /// A storage command's line is complete but not its data: `total` bytes (from the
    /// start of the buffer) are needed. The caller may refuse it as too large instead.
    NeedData {
        total: usize,
        line_len: usize,
        kind: StoreKind,
        key: &'a [u8],
        value_len: usize,
        noreply: bool,
    },
    /// One complete request occupying `consumed` bytes.
    Done { consumed: usize, req: Request<'a> },
    /// An ms line is complete but not its data: `total` bytes are needed. The caller may
    /// refuse it as too large instead.
    MetaNeedData {
        total: usize,
        value_len: usize,
        req: crate::protocol::meta::Request<'a>,
    },
    /// An error for a request whose data block (up to `total` bytes from the start of the
    /// buffer) is discarded, whether or not it has arrived yet.
    Swallow { total: usize, msg: &'static str },
    /// memcached would close the connection here (HTTP request, runaway line).
    Close,
}

/// Parses the first request in `buf`.
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    match one_key_get(buf) {
        Some(done) => done,
        None => tokenized(buf),
    }
}

/// `get <key>` and `gets <key>`, most requests of a cache's traffic, read in one pass over
/// the line instead of tokenizing it (a parse went from 333 to 135 instructions,
/// `CC_ARGS="--tick-hold-us 0" bash benches/instructions.sh corecached 1 3000`). Exactly
/// the request the tokenizer makes of such a line; None for anything else (more keys,
/// extra spaces, control bytes, a long key, no newline yet), which the tokenizer then
/// decides.
fn one_key_get(buf: &[u8]) -> Option<Parsed<'_>> {
    let (at, cas) = match buf {
        [b'g', b'e', b't', b' ', ..] => (4, false),
        [b'g', b'e', b't', b's', b' ', ..] => (5, true),
        _ => return None,
    };
    let rest = &buf[at..];
    // Space, CR, LF and NUL are all at or below b' '; other control bytes fall back too.
    // An indexed loop: `take(..).position(..)` cost three times its instructions here.
    let limit = rest.len().min(KEY_MAX_LENGTH + 1);
    let mut n = 0;
    while n < limit && rest[n] > b' ' {
        n += 1;
    }
    let line_len = match rest[n..] {
        _ if n == 0 || n == limit => return None,
        [b'\r', b'\n', ..] => at + n + 2,
        [b'\n', ..] => at + n + 1,
        _ => return None,
    };
    // The tokenizer's keys are what follows the command name, the space included.
    let keys = Keys(&buf[at - 1..at + n]);
    Some(done(
        line_len,
        Request::Get {
            keys,
            cas,
            touch: None,
        },
    ))
}

/// Parses the first request in `buf` the way memcached's tokenizer does.
fn tokenized(buf: &[u8]) -> Parsed<'_> {
    let Some(nl) = find(b'\n', buf) else {
        return if buf.len() > LINE_LIMIT && !is_multiget_prefix(buf) {
            Parsed::Close
        } else {
            Parsed::Incomplete
        };
    };
    let line_len = nl + 1;
    let mut line = &buf[..nl];
    if line.len() > 1 && line[line.len() - 1] == b'\r' {
        line = &line[..line.len() - 1];
    }
    // memcached tokenizes the line as a C string: a NUL ends it, the rest is ignored.
    if let Some(nul) = find(0, line) {
        line = &line[..nul];
    }
    parse_line(buf, line, line_len)
}

fn is_multiget_prefix(buf: &[u8]) -> bool {
    let spaces = buf.iter().take_while(|&&b| b == b' ').count();
    if spaces > 100 {
        return false;
    }
    let rest = &buf[spaces..];
    rest.starts_with(b"get ") || rest.starts_with(b"gets ")
}

fn done(consumed: usize, req: Request<'_>) -> Parsed<'_> {
    Parsed::Done { consumed, req }
}

fn error(consumed: usize, msg: &'static str, noreply: bool) -> Parsed<'static> {
    Parsed::Done {
        consumed,
        req: Request::Error { msg, noreply },
    }
}

/// A tokenized request line.
struct Line<'a, 'w> {
    words: &'w [&'a [u8]],
    /// More than MAX_WORDS words: never valid outside a get.
    too_many: bool,
    noreply: bool,
    /// Bytes of the line, newline included.
    len: usize,
    /// What follows the command name.
    args: &'a [u8],
}

impl<'a> Line<'a, '_> {
    fn n(&self) -> usize {
        self.words.len()
    }

    fn error(&self, msg: &'static str) -> Parsed<'static> {
        error(self.len, msg, self.noreply)
    }

    fn op(&self, op: Op<'a>) -> Parsed<'a> {
        done(
            self.len,
            Request::Op {
                op,
                noreply: self.noreply,
            },
        )
    }

    /// The key of a one-key command, or the error memcached gives for a long one.
    #[allow(clippy::result_large_err)]
    fn key(&self) -> Result<&'a [u8], Parsed<'static>> {
        let key = self.words[1];
        if key.len() > KEY_MAX_LENGTH {
            return Err(self.error(ERR_FORMAT));
        }
        Ok(key)
    }
}

fn parse_line<'a>(buf: &'a [u8], line: &'a [u8], line_len: usize) -> Parsed<'a> {
    let mut words: [&[u8]; MAX_WORDS] = [&[]; MAX_WORDS];
    let mut n = 0;
    let mut rest_at = line.len();
    for (start, w) in Words::new(line) {
        if n == MAX_WORDS {
            rest_at = start;
            break;
        }
        words[n] = w;
        n += 1;
    }
    if n == 0 || words[0].len() < 2 {
        return error(line_len, ERROR, false);
    }
    let l = Line {
        words: &words[..n],
        too_many: rest_at < line.len(),
        noreply: words[n - 1] == b"noreply",
        len: line_len,
        args: after_first_word(line),
    };
    let name = words[0];
    if name.len() == 2 && name[0] == b'm' {
        return crate::protocol::meta::parse::parse(buf, line, line_len, name);
    }
    match name {
        b"get" | b"gets" | b"bget" | b"gat" | b"gats" => retrieval(&l, name),
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => {
            let base = if name == b"cas" { 6 } else { 5 };
            if l.too_many || (n != base && n != base + 1) {
                return error(line_len, ERROR, false);
            }
            storage_command(buf, l.words, line_len, l.noreply)
        }
        b"delete" => delete(&l).unwrap_or_else(|e| e),
        b"incr" | b"decr" | b"touch" => key_and_number(&l, name).unwrap_or_else(|e| e),
        _ => other(&l, name),
    }
}

fn retrieval<'a>(l: &Line<'a, '_>, name: &[u8]) -> Parsed<'a> {
    if l.n() < 2 {
        return error(l.len, ERROR, false);
    }
    if name.starts_with(b"gat") {
        let Some(exptime) = parse_i32(l.words[1]) else {
            return error(l.len, ERR_EXPTIME, false);
        };
        let keys = after_first_word(l.args);
        get_command(l.len, keys, name == b"gats", Some(exptime))
    } else {
        get_command(l.len, l.args, name == b"gets", None)
    }
}

#[allow(clippy::result_large_err)]
fn delete<'a>(l: &Line<'a, '_>) -> Result<Parsed<'a>, Parsed<'static>> {
    let n = l.n();
    if l.too_many || !(2..=4).contains(&n) {
        return Err(error(l.len, ERROR, false));
    }
    if n > 2 {
        let hold_is_zero = l.words[2] == b"0";
        let valid =
            (n == 3 && (hold_is_zero || l.noreply)) || (n == 4 && hold_is_zero && l.noreply);
        if !valid {
            return Err(l.error(ERR_DELETE_USAGE));
        }
    }
    Ok(l.op(Op::Delete {
        key: l.key()?,
        cas: 0,
    }))
}

/// incr, decr and touch: a key and a number, then perhaps noreply.
#[allow(clippy::result_large_err)]
fn key_and_number<'a>(l: &Line<'a, '_>, name: &[u8]) -> Result<Parsed<'a>, Parsed<'static>> {
    if l.too_many || (l.n() != 3 && l.n() != 4) {
        return Err(error(l.len, ERROR, false));
    }
    let key = l.key()?;
    if name == b"touch" {
        let exptime = parse_i32(l.words[2]).ok_or_else(|| l.error(ERR_EXPTIME))?;
        return Ok(l.op(Op::Touch { key, exptime }));
    }
    let delta = parse_u64(l.words[2]).ok_or_else(|| l.error(ERR_DELTA))?;
    Ok(l.op(Op::Arith {
        incr: name == b"incr",
        key,
        delta,
        init: None,
        cas: 0,
    }))
}

/// The commands the connection answers itself.
fn other<'a>(l: &Line<'a, '_>, name: &[u8]) -> Parsed<'a> {
    let (n, words, noreply) = (l.n(), l.words, l.noreply);
    match name {
        b"flush_all" => {
            if l.too_many || n > 3 {
                return error(l.len, ERROR, false);
            }
            let delay = if n == if noreply { 2 } else { 1 } {
                Some(0)
            } else {
                parse_i32(words[1])
            };
            done(l.len, Request::FlushAll { delay, noreply })
        }
        b"version" => done(l.len, Request::Version),
        b"refresh_certs" => done(l.len, Request::RefreshCerts { noreply }),
        b"quit" => done(l.len, Request::Quit),
        b"verbosity" => {
            if l.too_many || (n != 2 && n != 3) {
                return error(l.len, ERROR, false);
            }
            if parse_u64(words[1]).is_none_or(|v| v > u64::from(u32::MAX)) {
                return l.error(ERR_FORMAT);
            }
            done(l.len, Request::Verbosity { noreply })
        }
        b"shutdown" => match n {
            1 => done(l.len, Request::Shutdown { graceful: false }),
            2 if words[1] == b"graceful" => done(l.len, Request::Shutdown { graceful: true }),
            _ => error(l.len, ERR_SHUTDOWN_MODE, false),
        },
        b"stats" => done(l.len, Request::Stats { args: Keys(l.args) }),
        b"lru_crawler" => done(l.len, Request::LruCrawler { args: Keys(l.args) }),
        b"slabs" => done(l.len, Request::Slabs { args: Keys(l.args) }),
        b"watch" => {
            let kinds = super::watch::parse_kinds(Keys(l.args));
            done(l.len, Request::Watch { kinds })
        }
        b"cache_memlimit" => {
            if l.too_many || (n != 2 && n != 3) {
                return error(l.len, ERROR, false);
            }
            match parse_u64(words[1]).filter(|&v| v <= u64::from(u32::MAX)) {
                Some(megabytes) => done(l.len, Request::CacheMemlimit { megabytes, noreply }),
                None => l.error(ERROR),
            }
        }
        _ if words[n - 1].starts_with(b"HTTP/") => Parsed::Close,
        _ => error(l.len, ERROR, false),
    }
}

/// The part of `s` after its first space-separated word.
fn after_first_word(s: &[u8]) -> &[u8] {
    match Words::new(s).next() {
        Some((start, w)) => &s[start + w.len()..],
        None => &s[s.len()..],
    }
}

fn get_command(line_len: usize, keys: &[u8], cas: bool, touch: Option<i32>) -> Parsed<'_> {
    let keys = Keys(keys);
    if keys.iter().any(|k| k.len() > KEY_MAX_LENGTH) {
        return error(line_len, ERR_FORMAT, false);
    }
    done(line_len, Request::Get { keys, cas, touch })
}

fn storage_command<'a>(
    buf: &'a [u8],
    words: &[&'a [u8]],
    line_len: usize,
    noreply: bool,
) -> Parsed<'a> {
    let key = words[1];
    if key.len() > KEY_MAX_LENGTH {
        return error(line_len, ERR_FORMAT, noreply);
    }
    let (Some(flags), Some(exptime), Some(vlen)) = (
        parse_flags(words[2]),
        parse_i32(words[3]),
        parse_i32(words[4]),
    ) else {
        return error(line_len, ERR_FORMAT, noreply);
    };
    let kind = match words[0] {
        b"set" => StoreKind::Set,
        b"add" => StoreKind::Add,
        b"replace" => StoreKind::Replace,
        b"append" => StoreKind::Append,
        b"prepend" => StoreKind::Prepend,
        _ => match parse_u64(words[5]) {
            Some(cas) => StoreKind::Cas(cas),
            None => return error(line_len, ERR_FORMAT, noreply),
        },
    };
    if !(0..=i32::MAX - 2).contains(&vlen) {
        return error(line_len, ERR_FORMAT, noreply);
    }
    let value_len = vlen as usize;
    let total = line_len + value_len + 2;
    if buf.len() < total {
        return Parsed::NeedData {
            total,
            line_len,
            kind,
            key,
            value_len,
            noreply,
        };
    }
    if &buf[line_len + value_len..total] != b"\r\n" {
        return error(total, ERR_DATA_CHUNK, noreply);
    }
    let data = &buf[line_len..line_len + value_len];
    done(
        total,
        Request::Op {
            op: Op::Store {
                kind,
                key,
                flags,
                exptime,
                value: data,
            },
            noreply,
        },
    )
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
