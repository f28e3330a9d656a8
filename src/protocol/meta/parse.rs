//! Parsing of meta request lines (`mg`, `ms`, `md`, `ma`, `mn`, `me`), handed over by the
//! text parser, which reads the same stream: memcached 1.6.18's checks in its order, with
//! its error texts, and `ms`'s data block (swallowed after an error, as memcached does).

use super::flags::{Flags, OPAQUE_MAX, decode_key, preparse};
use super::render::{
    ERR_DATA_CHUNK, ERR_FLAGS_LONG, ERR_FLAGS_TOO_LONG, ERR_FORMAT, ERR_INVALID_OR_DUP,
    ERR_MA_MODE, ERR_MS_MODE, ERR_OPAQUE, ERROR,
};
use crate::protocol::number::parse_i32;
use crate::protocol::op::MetaCmd;
use crate::protocol::text::{KEY_MAX_LENGTH, Parsed, Request as TextRequest, Words};

/// memcached refuses a meta line of this many tokens or more (terminal token included).
const MAX_TOKENS: usize = 20;

/// One meta request ready for its shard (`mn` is [`TextRequest::MetaNoop`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub cmd: MetaCmd,
    /// The key as on the line (base64 text under `b`).
    pub key: &'a [u8],
    pub flags: Flags,
    /// The flag tokens as on the line, for writing return flags in their order.
    pub tokens: &'a [u8],
    /// ms's data, without its CRLF.
    pub value: &'a [u8],
}

impl<'a> Request<'a> {
    /// The key the shard sees: decoded under `b` (the parser checked that it decodes).
    pub fn key<'b>(&self, buf: &'b mut [u8; 256]) -> &'b [u8]
    where
        'a: 'b,
    {
        if self.flags.args.binary {
            decode_key(self.key, buf).unwrap_or_default()
        } else {
            self.key
        }
    }
}

fn error(consumed: usize, msg: &'static str) -> Parsed<'static> {
    Parsed::Done {
        consumed,
        req: TextRequest::Error {
            msg,
            noreply: false,
        },
    }
}

/// Parses the meta request on `line` (without its newline; `line_len` bytes with it) at
/// the start of `buf`; `name` is its two-letter command.
pub fn parse<'a>(buf: &'a [u8], line: &'a [u8], line_len: usize, name: &[u8]) -> Parsed<'a> {
    let mut words = Words::new(line);
    words.next();
    let Some((_, key)) = words.next() else {
        return match name[1] {
            b'n' => done(line_len, TextRequest::MetaNoop),
            b'e' => error(line_len, ERR_FORMAT),
            _ => error(line_len, ERROR),
        };
    };
    let cmd = match name[1] {
        b'g' => MetaCmd::Get,
        b's' => MetaCmd::Set,
        b'd' => MetaCmd::Delete,
        b'a' => MetaCmd::Arith,
        b'e' => return debug(line, line_len, key),
        b'n' => return done(line_len, TextRequest::MetaNoop),
        _ => return error(line_len, ERROR),
    };
    if key.len() > KEY_MAX_LENGTH {
        return error(line_len, ERR_FORMAT);
    }
    let mut rest = words.clone();
    // memcached's token count: command, key, the rest, and its terminal empty token.
    let ntokens = 3 + words.count();
    let too_long = if cmd == MetaCmd::Get {
        ERR_FLAGS_LONG
    } else {
        ERR_FLAGS_TOO_LONG
    };
    let mut vlen = None;
    if cmd == MetaCmd::Set {
        let Some((_, len)) = rest.next() else {
            return error(line_len, ERR_FORMAT);
        };
        if ntokens > MAX_TOKENS {
            return error(line_len, too_long);
        }
        match parse_i32(len) {
            Some(v) if (0..=i32::MAX - 2).contains(&v) => vlen = Some(v as usize),
            _ => return error(line_len, ERR_FORMAT),
        }
    } else if ntokens > MAX_TOKENS {
        return error(line_len, too_long);
    }
    let tokens = rest
        .clone()
        .next()
        .map_or(&line[line.len()..], |(at, _)| &line[at..]);
    let checked = check(cmd, preparse(rest.map(|(_, w)| w), key));
    let req = |flags| Request {
        cmd,
        key,
        flags,
        tokens,
        value: &[],
    };
    match (vlen, checked) {
        (None, Ok(flags)) => done(line_len, TextRequest::Meta(req(flags))),
        (None, Err(msg)) => error(line_len, msg),
        (Some(vlen), checked) => data(buf, line_len, vlen, checked.map(req)),
    }
}

fn done(consumed: usize, req: TextRequest<'_>) -> Parsed<'_> {
    Parsed::Done { consumed, req }
}

/// The checks after the pre-parse, each command's own way.
fn check(cmd: MetaCmd, flags: Result<Flags, &'static str>) -> Result<Flags, &'static str> {
    let flags = match (cmd, flags) {
        (MetaCmd::Delete | MetaCmd::Arith, Err(_)) => return Err(ERR_INVALID_OR_DUP),
        (_, f) => f?,
    };
    // mg and ma notice a long opaque only while writing their reply (see render).
    if flags.opaque_len > OPAQUE_MAX && matches!(cmd, MetaCmd::Set | MetaCmd::Delete) {
        return Err(ERR_OPAQUE);
    }
    let mode = flags.args.mode;
    match cmd {
        MetaCmd::Set if !matches!(mode, 0 | b'E' | b'A' | b'P' | b'R' | b'S') => Err(ERR_MS_MODE),
        MetaCmd::Arith if !matches!(mode, 0 | b'I' | b'+' | b'D' | b'-') => Err(ERR_MA_MODE),
        _ => Ok(flags),
    }
}

/// ms's data block: the request once it is all here, or its error with the block swallowed.
fn data<'a>(
    buf: &'a [u8],
    line_len: usize,
    vlen: usize,
    req: Result<Request<'a>, &'static str>,
) -> Parsed<'a> {
    let total = line_len + vlen + 2;
    match req {
        Err(msg) => Parsed::Swallow { total, msg },
        Ok(req) if buf.len() < total => Parsed::MetaNeedData {
            total,
            value_len: vlen,
            req,
        },
        Ok(_) if &buf[line_len + vlen..total] != b"\r\n" => error(total, ERR_DATA_CHUNK),
        Ok(req) => done(
            total,
            TextRequest::Meta(Request {
                value: &buf[line_len..line_len + vlen],
                ..req
            }),
        ),
    }
}

/// `me <key> [b]`: memcached decodes the key only when `b` is the first flag.
fn debug<'a>(line: &'a [u8], line_len: usize, key: &'a [u8]) -> Parsed<'a> {
    if key.len() > KEY_MAX_LENGTH {
        return error(line_len, ERR_FORMAT);
    }
    let mut words = Words::new(line).skip(2);
    let binary = words.next().is_some_and(|(_, w)| w == b"b");
    if binary && decode_key(key, &mut [0; 256]).is_none() {
        return error(line_len, ERR_FORMAT);
    }
    let mut flags = Flags::default();
    flags.args.binary = binary;
    done(
        line_len,
        TextRequest::Meta(Request {
            cmd: MetaCmd::Debug,
            key,
            flags,
            tokens: &[],
            value: &[],
        }),
    )
}
