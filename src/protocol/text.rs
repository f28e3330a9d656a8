//! Incremental parser for memcached's text protocol, faithful to memcached 1.6's
//! `proto_text.c`: same tokenizing (single spaces), same token-count checks, same error
//! texts, same cases that close the connection. Never panics on any input.

use super::number::{parse_flags, parse_i32, parse_u64};

/// Longest key memcached accepts.
pub const KEY_MAX_LENGTH: usize = 250;
/// memcached closes a connection whose buffered line has no newline past this many bytes,
/// unless it is a (possibly huge) multi-get.
pub const LINE_LIMIT: usize = 2048;
/// memcached's MAX_TOKENS less the terminal token: more words than this is never valid
/// outside a get.
const MAX_WORDS: usize = 24;

pub const ERR_FORMAT: &str = "CLIENT_ERROR bad command line format";
pub const ERR_DATA_CHUNK: &str = "CLIENT_ERROR bad data chunk";
pub const ERR_EXPTIME: &str = "CLIENT_ERROR invalid exptime argument";
pub const ERR_DELTA: &str = "CLIENT_ERROR invalid numeric delta argument";
pub const ERR_DELETE_USAGE: &str =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
pub const ERR_SHUTDOWN_MODE: &str = "CLIENT_ERROR invalid shutdown mode";

/// Which storage command; the store's own type, so no translation is needed.
pub use crate::storage::StoreMode as StoreKind;

#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `get`/`gets`/`gat`/`gats`; `keys` holds the space-separated keys, each validated.
    Get {
        keys: Keys<'a>,
        cas: bool,
        touch: Option<i32>,
    },
    Store {
        kind: StoreKind,
        key: &'a [u8],
        flags: u32,
        exptime: i32,
        data: &'a [u8],
        noreply: bool,
    },
    Delete {
        key: &'a [u8],
        noreply: bool,
    },
    Arith {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        noreply: bool,
    },
    Touch {
        key: &'a [u8],
        exptime: i32,
        noreply: bool,
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
    Version,
    Verbosity {
        noreply: bool,
    },
    Quit,
    Shutdown {
        graceful: bool,
    },
    /// A request memcached answers with an error line (suppressed under noreply).
    Error {
        msg: &'static str,
        noreply: bool,
    },
}

/// Space-separated words of a request line (what follows the command name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys<'a>(pub &'a [u8]);

impl<'a> Keys<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        Words { s: self.0, pos: 0 }.map(|(_, w)| w)
    }
}

/// Space-separated words with their offsets, empty ones skipped. Scans with SIMD `memchr`:
/// the parser walks every request line at least twice, so a byte loop here shows up as the
/// largest user-space cost per request.
pub(crate) struct Words<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Words<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        Words { s, pos: 0 }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = (usize, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        let s = self.s;
        while self.pos < s.len() && s[self.pos] == b' ' {
            self.pos += 1;
        }
        if self.pos >= s.len() {
            return None;
        }
        let start = self.pos;
        let end = memchr::memchr(b' ', &s[start..]).map_or(s.len(), |i| start + i);
        self.pos = end;
        Some((start, &s[start..end]))
    }
}

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
    Done { consumed: usize, cmd: Command<'a> },
    /// memcached would close the connection here (HTTP request, runaway line).
    Close,
}

/// Parses the first request in `buf`.
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
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

fn done(consumed: usize, cmd: Command<'_>) -> Parsed<'_> {
    Parsed::Done { consumed, cmd }
}

fn error(consumed: usize, msg: &'static str, noreply: bool) -> Parsed<'static> {
    Parsed::Done {
        consumed,
        cmd: Command::Error { msg, noreply },
    }
}

fn parse_line<'a>(buf: &'a [u8], line: &'a [u8], line_len: usize) -> Parsed<'a> {
    let mut words: [&[u8]; MAX_WORDS] = [&[]; MAX_WORDS];
    let mut n = 0;
    let mut rest_at = line.len();
    for (start, w) in (Words { s: line, pos: 0 }) {
        if n == MAX_WORDS {
            rest_at = start;
            break;
        }
        words[n] = w;
        n += 1;
    }
    let too_many = rest_at < line.len();
    if n == 0 || words[0].len() < 2 {
        return error(line_len, "ERROR", false);
    }
    let words = &words[..n];
    let name = words[0];
    let noreply = words[n - 1] == b"noreply";
    let after_name = after_first_word(line);

    match name {
        b"get" | b"gets" | b"bget" => {
            if n < 2 {
                return error(line_len, "ERROR", false);
            }
            get_command(line_len, after_name, name == b"gets", None)
        }
        b"gat" | b"gats" => {
            if n < 2 {
                return error(line_len, "ERROR", false);
            }
            let Some(exptime) = parse_i32(words[1]) else {
                return error(line_len, ERR_EXPTIME, false);
            };
            get_command(
                line_len,
                after_first_word(after_name),
                name == b"gats",
                Some(exptime),
            )
        }
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => {
            let is_cas = name == b"cas";
            let base = if is_cas { 6 } else { 5 };
            if too_many || (n != base && n != base + 1) {
                return error(line_len, "ERROR", false);
            }
            storage_command(buf, words, line_len, noreply)
        }
        b"delete" => {
            if too_many || !(2..=4).contains(&n) {
                return error(line_len, "ERROR", false);
            }
            if n > 2 {
                let hold_is_zero = words[2] == b"0";
                let valid =
                    (n == 3 && (hold_is_zero || noreply)) || (n == 4 && hold_is_zero && noreply);
                if !valid {
                    return error(line_len, ERR_DELETE_USAGE, noreply);
                }
            }
            if words[1].len() > KEY_MAX_LENGTH {
                return error(line_len, ERR_FORMAT, noreply);
            }
            done(
                line_len,
                Command::Delete {
                    key: words[1],
                    noreply,
                },
            )
        }
        b"incr" | b"decr" => {
            if too_many || (n != 3 && n != 4) {
                return error(line_len, "ERROR", false);
            }
            if words[1].len() > KEY_MAX_LENGTH {
                return error(line_len, ERR_FORMAT, noreply);
            }
            let Some(delta) = parse_u64(words[2]) else {
                return error(line_len, ERR_DELTA, noreply);
            };
            done(
                line_len,
                Command::Arith {
                    incr: name == b"incr",
                    key: words[1],
                    delta,
                    noreply,
                },
            )
        }
        b"touch" => {
            if too_many || (n != 3 && n != 4) {
                return error(line_len, "ERROR", false);
            }
            if words[1].len() > KEY_MAX_LENGTH {
                return error(line_len, ERR_FORMAT, noreply);
            }
            let Some(exptime) = parse_i32(words[2]) else {
                return error(line_len, ERR_EXPTIME, noreply);
            };
            done(
                line_len,
                Command::Touch {
                    key: words[1],
                    exptime,
                    noreply,
                },
            )
        }
        b"flush_all" => {
            if too_many || n > 3 {
                return error(line_len, "ERROR", false);
            }
            let delay = if n == if noreply { 2 } else { 1 } {
                Some(0)
            } else {
                parse_i32(words[1])
            };
            done(line_len, Command::FlushAll { delay, noreply })
        }
        b"version" => done(line_len, Command::Version),
        b"quit" => done(line_len, Command::Quit),
        b"verbosity" => {
            if too_many || (n != 2 && n != 3) {
                return error(line_len, "ERROR", false);
            }
            if parse_u64(words[1]).is_none_or(|v| v > u64::from(u32::MAX)) {
                return error(line_len, ERR_FORMAT, noreply);
            }
            done(line_len, Command::Verbosity { noreply })
        }
        b"shutdown" => match n {
            1 => done(line_len, Command::Shutdown { graceful: false }),
            2 if words[1] == b"graceful" => done(line_len, Command::Shutdown { graceful: true }),
            _ => error(line_len, ERR_SHUTDOWN_MODE, false),
        },
        b"stats" => done(
            line_len,
            Command::Stats {
                args: Keys(after_name),
            },
        ),
        b"lru_crawler" => done(
            line_len,
            Command::LruCrawler {
                args: Keys(after_name),
            },
        ),
        _ => {
            if words[n - 1].starts_with(b"HTTP/") {
                Parsed::Close
            } else {
                error(line_len, "ERROR", false)
            }
        }
    }
}

/// The part of `s` after its first space-separated word.
fn after_first_word(s: &[u8]) -> &[u8] {
    match (Words { s, pos: 0 }).next() {
        Some((start, w)) => &s[start + w.len()..],
        None => &s[s.len()..],
    }
}

fn get_command(line_len: usize, keys: &[u8], cas: bool, touch: Option<i32>) -> Parsed<'_> {
    let keys = Keys(keys);
    if keys.iter().any(|k| k.len() > KEY_MAX_LENGTH) {
        return error(line_len, ERR_FORMAT, false);
    }
    done(line_len, Command::Get { keys, cas, touch })
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
        Command::Store {
            kind,
            key,
            flags,
            exptime,
            data,
            noreply,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(buf: &[u8]) -> Command<'_> {
        match parse(buf) {
            Parsed::Done { consumed, cmd } => {
                assert_eq!(
                    consumed,
                    buf.len(),
                    "consumed for {:?}",
                    String::from_utf8_lossy(buf)
                );
                cmd
            }
            other => panic!("not done: {other:?}"),
        }
    }

    fn err(buf: &[u8]) -> &'static str {
        match cmd(buf) {
            Command::Error { msg, .. } => msg,
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn get_keys_and_limits() {
        let Command::Get { keys, cas, touch } = cmd(b"gets a  b c\r\n") else {
            panic!()
        };
        assert!(cas);
        assert_eq!(touch, None);
        assert_eq!(keys.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(err(b"get\r\n"), "ERROR");
        let long = [b"get a ".as_slice(), &[b'k'; 251], b" b\r\n"].concat();
        assert_eq!(err(&long), ERR_FORMAT);
        let Command::Get { touch, .. } = cmd(b"gat 10 k\n") else {
            panic!()
        };
        assert_eq!(touch, Some(10));
        assert_eq!(err(b"gat abc k\r\n"), ERR_EXPTIME);
    }

    #[test]
    fn storage_commands() {
        let buf = b"set k 5 0 3\r\na\r\n\r\n";
        let Command::Store {
            kind,
            key,
            flags,
            data,
            noreply,
            ..
        } = cmd(buf)
        else {
            panic!()
        };
        assert_eq!(
            (kind, key, flags, data, noreply),
            (StoreKind::Set, &b"k"[..], 5, &b"a\r\n"[..], false)
        );
        let Command::Store { kind, .. } = cmd(b"cas k 0 0 1 99 noreply\r\nx\r\n") else {
            panic!()
        };
        assert_eq!(kind, StoreKind::Cas(99));
        assert_eq!(err(b"set k 0 0 1 2 3\r\n"), "ERROR");
        assert_eq!(err(b"cas k 0 0 1\r\n"), "ERROR");
        assert_eq!(err(b"set k 0 0 -1\r\n"), ERR_FORMAT);
        assert_eq!(err(b"set k x 0 1\r\n"), ERR_FORMAT);
        assert_eq!(
            err(b"set k 0 0 1\r\nabc\r\n"[..16].as_ref()),
            ERR_DATA_CHUNK
        );
        assert!(matches!(
            parse(b"set k 0 0 10\r\nab"),
            Parsed::NeedData {
                total: 26,
                line_len: 14,
                value_len: 10,
                ..
            }
        ));
        match parse(b"set k 0 0 1 noreply\r\nabc\r\n") {
            Parsed::Done {
                consumed,
                cmd: Command::Error { msg, noreply },
            } => {
                assert_eq!((consumed, msg, noreply), (24, ERR_DATA_CHUNK, true));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delete_forms() {
        assert_eq!(
            cmd(b"delete k 0\r\n"),
            Command::Delete {
                key: b"k",
                noreply: false
            }
        );
        assert_eq!(
            cmd(b"delete k 0 noreply\r\n"),
            Command::Delete {
                key: b"k",
                noreply: true
            }
        );
        assert_eq!(err(b"delete k 1\r\n"), ERR_DELETE_USAGE);
        assert_eq!(err(b"delete a b c d\r\n"), "ERROR");
    }

    #[test]
    fn misc_commands_and_errors() {
        assert_eq!(err(b"\r\n"), "ERROR");
        assert_eq!(err(b"x\r\n"), "ERROR");
        assert_eq!(err(b"verbosity\r\n"), "ERROR");
        assert_eq!(
            cmd(b"verbosity 1\r\n"),
            Command::Verbosity { noreply: false }
        );
        assert_eq!(
            cmd(b"flush_all abc\r\n"),
            Command::FlushAll {
                delay: None,
                noreply: false
            }
        );
        assert_eq!(
            cmd(b"flush_all noreply\r\n"),
            Command::FlushAll {
                delay: Some(0),
                noreply: true
            }
        );
        assert_eq!(
            cmd(b"flush_all 10\r\n"),
            Command::FlushAll {
                delay: Some(10),
                noreply: false
            }
        );
        assert_eq!(err(b"incr k abc\r\n"), ERR_DELTA);
        assert_eq!(err(b"incr k -1\r\n"), ERR_DELTA);
        assert_eq!(err(b"touch k x\r\n"), ERR_EXPTIME);
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Parsed::Close);
        assert_eq!(parse(&[b'x'; 3000]), Parsed::Close);
        assert_eq!(
            parse(&[b"get ".as_slice(), &[b'k'; 3000]].concat()),
            Parsed::Incomplete
        );
        assert_eq!(parse(b"get k"), Parsed::Incomplete);
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut seed = 0x1234_5678_u64;
        for _ in 0..20_000 {
            let mut buf = Vec::new();
            for _ in 0..(seed % 40) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let choices = b"setgc 0123456789\r\n-+abnoreply";
                buf.push(choices[(seed >> 33) as usize % choices.len()]);
            }
            let _ = parse(&buf);
        }
    }
}
