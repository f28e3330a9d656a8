//! Every reply text of the meta protocol, and the rendering of a meta outcome: the status
//! code, then the return flags in the order the request gave them (as memcached 1.6.18
//! writes them), then the anti-stampede flags Z, X, W, then the value.

use super::flags::{Flags, OPAQUE_MAX, decode_key};
use crate::protocol::op::{
    MetaCmd, MetaDebug, MetaError, MetaHit, MetaOutcome, MetaStatus, MetaTimes, Outcome,
};
use crate::protocol::text::Words;
use crate::protocol::text::render::{ERR_SHARD_UNAVAILABLE, line};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub use crate::protocol::text::render::{ERR_DATA_CHUNK, ERR_FORMAT, ERROR};
pub const ERR_DUPLICATE: &str = "CLIENT_ERROR duplicate flag";
pub const ERR_INVALID_FLAG: &str = "CLIENT_ERROR invalid flag";
pub const ERR_INVALID_OR_DUP: &str = "CLIENT_ERROR invalid or duplicate flag";
pub const ERR_DECODE_KEY: &str = "CLIENT_ERROR error decoding key";
pub const ERR_BAD_TOKEN: &str = "CLIENT_ERROR bad token in command line format";
pub const ERR_M_LENGTH: &str = "CLIENT_ERROR incorrect length for M token";
pub const ERR_INITIAL: &str = "CLIENT_ERROR invalid numeric initial value";
pub const ERR_DELTA: &str = "CLIENT_ERROR invalid numeric delta value";
pub const ERR_OPAQUE: &str = "CLIENT_ERROR opaque token too long";
pub const ERR_FLAGS_LONG: &str = "CLIENT_ERROR options flags are too long";
pub const ERR_FLAGS_TOO_LONG: &str = "CLIENT_ERROR options flags too long";
pub const ERR_MS_MODE: &str = "CLIENT_ERROR invalid mode for ms M token";
pub const ERR_MA_MODE: &str = "CLIENT_ERROR invalid mode for ma M token";
pub const ERR_NON_NUMERIC: &str = "CLIENT_ERROR cannot increment or decrement non-numeric value";
pub const ERR_TOO_LARGE: &str = "SERVER_ERROR object too large for cache";
pub const ERR_NO_MEMORY: &str = "SERVER_ERROR out of memory storing object";
pub const ERR_MA_NO_MEMORY: &str = "SERVER_ERROR out of memory";
pub const ERR_VIVIFY_NO_MEMORY: &str = "SERVER_ERROR Out of memory allocating new item";
pub const MN: &str = "MN";

/// What rendering a meta reply needs of its request.
#[derive(Clone, Copy, Debug)]
pub struct Echo<'a> {
    pub cmd: MetaCmd,
    pub flags: &'a Flags,
    /// The key as on the line.
    pub key: &'a [u8],
    /// The flag tokens as on the line.
    pub tokens: &'a [u8],
}

/// Writes the reply to a meta request; `None` is an outcome that never came back.
pub fn outcome(out: &mut Vec<u8>, o: Option<&Outcome<'_>>, e: &Echo<'_>) {
    let Some(Outcome::Meta(o)) = o else {
        return line(out, ERR_SHARD_UNAVAILABLE);
    };
    let quiet = e.flags.quiet;
    // memcached checks an mg's or ma's opaque while writing the reply, after the command
    // ran: its own errors come first, and the request has taken effect.
    let late_opaque = matches!(e.cmd, MetaCmd::Get | MetaCmd::Arith);
    if late_opaque && e.flags.opaque_len > OPAQUE_MAX && !matches!(o, MetaOutcome::Error(_)) {
        return line(out, ERR_OPAQUE);
    }
    match *o {
        MetaOutcome::Hit(h) => hit(out, &h, e),
        MetaOutcome::Miss if e.cmd == MetaCmd::Debug => line(out, "EN"),
        MetaOutcome::Miss if e.cmd == MetaCmd::Get && quiet => {}
        MetaOutcome::Miss if e.cmd == MetaCmd::Get => status(out, b"EN", e, None),
        MetaOutcome::Miss => status(out, b"NF", e, None),
        MetaOutcome::Status { status: s, .. } if quiet && s == MetaStatus::Stored => {}
        MetaOutcome::Status { status: s, cas } => {
            let code: &[u8] = match s {
                MetaStatus::Stored => b"HD",
                MetaStatus::NotStored => b"NS",
                MetaStatus::Exists => b"EX",
                MetaStatus::NotFound => b"NF",
            };
            status(out, code, e, (e.cmd == MetaCmd::Set).then_some(cas))
        }
        // memcached's q hides a counter's new value, but not one it just created.
        MetaOutcome::Counter { times, .. } if quiet && !times.created => {}
        MetaOutcome::Counter { value, cas, times } => counter(out, value, cas, &times, e),
        MetaOutcome::Error(err) => line(
            out,
            match err {
                MetaError::NonNumeric => ERR_NON_NUMERIC,
                MetaError::TooLarge => ERR_TOO_LARGE,
                MetaError::OutOfMemory if e.cmd == MetaCmd::Arith => ERR_MA_NO_MEMORY,
                MetaError::OutOfMemory => ERR_NO_MEMORY,
                MetaError::VivifyOutOfMemory => ERR_VIVIFY_NO_MEMORY,
            },
        ),
        MetaOutcome::Debug(d) => debug(out, &d),
    }
}

fn tokens<'a>(e: &Echo<'a>) -> impl Iterator<Item = &'a [u8]> {
    Words::new(e.tokens).map(|(_, w)| w)
}

fn num(out: &mut Vec<u8>, flag: u8, v: impl itoa::Integer) {
    out.extend_from_slice(&[b' ', flag]);
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// ` k<key>`, base64 with a trailing ` b` when the key is binary.
fn key(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    out.extend_from_slice(b" k");
    if binary {
        out.extend_from_slice(STANDARD.encode(key).as_bytes());
        out.extend_from_slice(b" b");
    } else {
        out.extend_from_slice(key);
    }
}

/// The request's key for `k`: re-encoded from the decoded bytes under `b`, as memcached does.
fn request_key(out: &mut Vec<u8>, e: &Echo<'_>) {
    let mut buf = [0; 256];
    match e.flags.args.binary {
        true => key(out, decode_key(e.key, &mut buf).unwrap_or_default(), true),
        false => key(out, e.key, false),
    }
}

/// A status code with the O and k (and, for ms, c) flags echoed.
fn status(out: &mut Vec<u8>, code: &[u8], e: &Echo<'_>, cas: Option<u64>) {
    out.extend_from_slice(code);
    for t in tokens(e) {
        match (t[0], cas) {
            (b'O', _) => {
                out.push(b' ');
                out.extend_from_slice(t);
            }
            (b'k', _) => request_key(out, e),
            (b'c', Some(c)) => num(out, b'c', c),
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// ` t<ttl left>`: -1 for never, else the unsigned difference memcached prints.
fn ttl(out: &mut Vec<u8>, exp: u32, now: u32) {
    if exp == 0 {
        out.extend_from_slice(b" t-1");
    } else {
        num(out, b't', exp.wrapping_sub(now));
    }
}

/// `VA <len>` when the value follows, else `HD`.
fn head(out: &mut Vec<u8>, value_len: Option<usize>) {
    match value_len {
        Some(n) => {
            out.extend_from_slice(b"VA ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        }
        None => out.extend_from_slice(b"HD"),
    }
}

fn hit(out: &mut Vec<u8>, h: &MetaHit<'_>, e: &Echo<'_>) {
    let it = &h.item;
    head(out, e.flags.value.then_some(it.value.len()));
    let mut exp = h.times.exp;
    for t in tokens(e) {
        match t[0] {
            b'T' => exp = h.times.exp_touch,
            b'N' if h.times.created => exp = h.times.exp_vivify,
            b's' => num(out, b's', it.value.len()),
            b't' => ttl(out, exp, h.times.now),
            b'c' => num(out, b'c', it.cas),
            b'f' => num(out, b'f', it.flags),
            b'l' => num(out, b'l', h.idle),
            b'h' => num(out, b'h', u8::from(h.fetched)),
            b'O' => {
                out.push(b' ');
                out.extend_from_slice(t);
            }
            b'k' => key(out, it.key, h.binary),
            _ => {}
        }
    }
    for (on, flag) in [(h.token_sent, b'Z'), (h.stale, b'X'), (h.won, b'W')] {
        if on {
            out.extend_from_slice(&[b' ', flag]);
        }
    }
    out.extend_from_slice(b"\r\n");
    if e.flags.value {
        out.extend_from_slice(it.value);
        out.extend_from_slice(b"\r\n");
    }
}

fn counter(out: &mut Vec<u8>, value: u64, cas: u64, times: &MetaTimes, e: &Echo<'_>) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value).as_bytes();
    head(out, e.flags.value.then_some(digits.len()));
    let mut exp = times.exp;
    for t in tokens(e) {
        match t[0] {
            b'c' => num(out, b'c', cas),
            b't' => ttl(out, exp, times.now),
            b'T' => exp = times.exp_touch,
            b'N' if times.created => exp = times.exp_vivify,
            b'O' => {
                out.push(b' ');
                out.extend_from_slice(t);
            }
            b'k' => request_key(out, e),
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
    if e.flags.value {
        out.extend_from_slice(digits);
        out.extend_from_slice(b"\r\n");
    }
}

fn debug(out: &mut Vec<u8>, d: &MetaDebug<'_>) {
    out.extend_from_slice(b"ME ");
    match d.binary {
        true => out.extend_from_slice(STANDARD.encode(d.key).as_bytes()),
        false => out.extend_from_slice(d.key),
    }
    let fetch = if d.fetched { "yes" } else { "no" };
    let rest = format!(
        " exp={} la={} cas={} fetch={} cls={} size={}\r\n",
        d.exp, d.idle, d.cas, fetch, d.class, d.size
    );
    out.extend_from_slice(rest.as_bytes());
}
