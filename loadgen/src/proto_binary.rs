//! memcached's binary protocol: a set is one `SET` packet, a single get one `GETK`, and a
//! multi-get N pipelined `GETKQ` packets closed by a `NOOP` (misses say nothing, so the
//! `NOOP` answer ends it). Replies map onto the text module's items, each marked with
//! whether it is the last answer its request gets.

use crate::keys::{Values, push_key};
use crate::proto_text::{Item, ProtoError};

const HEADER: usize = 24;
const REQUEST: u8 = 0x80;
const RESPONSE: u8 = 0x81;

const OP_SET: u8 = 0x01;
const OP_NOOP: u8 = 0x0a;
const OP_GETK: u8 = 0x0c;
const OP_GETKQ: u8 = 0x0d;

const ST_OK: u16 = 0x00;
const ST_NOT_FOUND: u16 = 0x01;
const ST_EXISTS: u16 = 0x02;
const ST_NOT_STORED: u16 = 0x05;

/// Bodies above this are not something loadgen asked for (values are at most 1 MiB).
const MAX_BODY: usize = (1 << 20) + 4096;

/// One parsed reply: `last` is true when no further answer belongs to the same request
/// (every reply but a quiet get's).
#[derive(Debug, PartialEq)]
pub struct Reply<'a> {
    pub item: Item<'a>,
    pub last: bool,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Parses the reply at the start of `buf`. Ok(None) means more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply<'_>, usize)>, ProtoError> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let h = &buf[..HEADER];
    if h[0] != RESPONSE {
        return Err(ProtoError(format!(
            "bad magic 0x{:02x} in a binary reply header {:02x?}",
            h[0], h
        )));
    }
    let (op, keylen, extlen) = (h[1], be16(&h[2..]) as usize, h[4] as usize);
    let status = be16(&h[6..]);
    let body = be32(&h[8..]) as usize;
    if body > MAX_BODY || keylen + extlen > body {
        return Err(ProtoError(format!(
            "binary reply with body {body}, key {keylen}, extras {extlen}: {h:02x?}"
        )));
    }
    let used = HEADER + body;
    if buf.len() < used {
        return Ok(None);
    }
    let extras = &buf[HEADER..HEADER + extlen];
    let key = &buf[HEADER + extlen..HEADER + extlen + keylen];
    let value = &buf[HEADER + extlen + keylen..used];
    if !matches!(op, OP_SET | OP_NOOP | OP_GETK | OP_GETKQ) {
        return Err(ProtoError(format!(
            "binary reply to opcode 0x{op:02x}, which loadgen never sends"
        )));
    }
    let last = op != OP_GETKQ;
    let item = match (op, status) {
        (OP_GETK | OP_GETKQ, ST_OK) => {
            if extlen != 4 || keylen == 0 {
                return Err(ProtoError(format!(
                    "get reply without flags or key: extras {extlen}, key {keylen}"
                )));
            }
            Item::Value {
                key,
                flags: be32(extras),
                data: value,
            }
        }
        (OP_NOOP, ST_OK) => Item::End,
        (OP_SET, ST_OK) => Item::Stored,
        (_, ST_NOT_FOUND) => Item::NotFound,
        (_, ST_EXISTS) => Item::Exists,
        (_, ST_NOT_STORED) => Item::NotStored,
        // Other statuses carry a text body saying what went wrong.
        _ => Item::Error(value),
    };
    Ok(Some((Reply { item, last }, used)))
}

/// Appends a request header for `op` with the given key, extras and body lengths.
#[inline]
fn push_header(out: &mut Vec<u8>, op: u8, keylen: usize, extlen: u8, body: usize) {
    out.extend_from_slice(&[REQUEST, op]);
    out.extend_from_slice(&(keylen as u16).to_be_bytes());
    out.extend_from_slice(&[extlen, 0, 0, 0]);
    out.extend_from_slice(&(body as u32).to_be_bytes());
    // Opaque and CAS: zero. Replies are matched by order, not by opaque.
    out.extend_from_slice(&[0; 12]);
}

/// Appends a `SET` (flags 0, no expiry); `scratch` is a reused key buffer.
#[inline]
pub fn push_set(out: &mut Vec<u8>, scratch: &mut Vec<u8>, prefix: &[u8], k: u64, vals: &Values) {
    scratch.clear();
    push_key(scratch, prefix, k);
    let len = vals.len(k);
    push_header(out, OP_SET, scratch.len(), 8, 8 + scratch.len() + len);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(scratch);
    vals.push(out, scratch, k);
}

/// Appends a `GETK`, or when `quiet` (one key of a multi-get) a `GETKQ`. `scratch` is a
/// reused key buffer: the key length goes in the header before the key.
#[inline]
pub fn push_get(out: &mut Vec<u8>, scratch: &mut Vec<u8>, prefix: &[u8], k: u64, quiet: bool) {
    scratch.clear();
    push_key(scratch, prefix, k);
    let op = if quiet { OP_GETKQ } else { OP_GETK };
    push_header(out, op, scratch.len(), 0, scratch.len());
    out.extend_from_slice(scratch);
}

/// Closes a multi-get: a `NOOP`, whose answer comes after every quiet get's.
#[inline]
pub fn push_end(out: &mut Vec<u8>) {
    push_header(out, OP_NOOP, 0, 0, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(op: u8, status: u16, extras: &[u8], key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut v = vec![RESPONSE, op];
        v.extend_from_slice(&(key.len() as u16).to_be_bytes());
        v.extend_from_slice(&[extras.len() as u8, 0]);
        v.extend_from_slice(&status.to_be_bytes());
        let body = extras.len() + key.len() + value.len();
        v.extend_from_slice(&(body as u32).to_be_bytes());
        v.extend_from_slice(&[0; 12]);
        v.extend_from_slice(extras);
        v.extend_from_slice(key);
        v.extend_from_slice(value);
        v
    }

    fn all(mut buf: &[u8]) -> Vec<Reply<'_>> {
        let mut v = Vec::new();
        while let Some((r, n)) = parse(buf).unwrap() {
            v.push(r);
            buf = &buf[n..];
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        v
    }

    #[test]
    fn replies_and_which_end_a_request() {
        let mut r = reply(OP_GETKQ, 0, &[0, 0, 0, 7], b"key:1", b"abc");
        r.extend(reply(OP_NOOP, 0, &[], b"", b""));
        r.extend(reply(OP_GETK, 1, &[], b"key:2", b"Not found"));
        r.extend(reply(OP_SET, 0, &[], b"", b""));
        r.extend(reply(OP_SET, 3, &[], b"", b"Too large."));
        let want = [
            (
                Item::Value {
                    key: b"key:1",
                    flags: 7,
                    data: b"abc",
                },
                false,
            ),
            (Item::End, true),
            (Item::NotFound, true),
            (Item::Stored, true),
            (Item::Error(b"Too large."), true),
        ];
        let want: Vec<_> = want
            .into_iter()
            .map(|(item, last)| Reply { item, last })
            .collect();
        assert_eq!(all(&r), want);
    }

    #[test]
    fn partial_and_garbage() {
        let r = reply(OP_GETK, 0, &[0; 4], b"k", b"value");
        for cut in 0..r.len() {
            assert!(parse(&r[..cut]).unwrap().is_none(), "cut at {cut}");
        }
        assert!(parse(b"VALUE k 0 1\r\nx\r\nEND\r\n\0\0\0\0").is_err());
        assert!(
            parse(&reply(OP_GETK, 0, &[], b"k", b"v")).is_err(),
            "no flags"
        );
        assert!(
            parse(&reply(0x1c, 0, &[], b"", b"")).is_err(),
            "not our opcode"
        );
    }

    #[test]
    fn request_bytes() {
        let vals = Values::new(8, 8);
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        push_set(&mut out, &mut scratch, b"key:", 7, &vals);
        assert_eq!(&out[..8], &[0x80, OP_SET, 0, 5, 8, 0, 0, 0]);
        assert_eq!(be32(&out[8..]), 8 + 5 + 8);
        assert_eq!(&out[HEADER + 8..HEADER + 13], b"key:7");
        assert_eq!(out.len(), HEADER + 21);
        let mut out = Vec::new();
        push_get(&mut out, &mut scratch, b"key:", 3, true);
        push_end(&mut out);
        assert_eq!(&out[..12], &[0x80, OP_GETKQ, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(&out[HEADER..HEADER + 5], b"key:3");
        assert_eq!(&out[HEADER + 5..HEADER + 7], &[0x80, OP_NOOP]);
        assert_eq!(out.len(), 2 * HEADER + 5);
    }
}
