//! memcached's meta protocol, quiet: a set is `ms <key> <len> q` and a get of N keys is N
//! `mg <key> f k v q` lines, each request closed by `mn`. Successes and misses say nothing,
//! so a request's answers are its hits (or errors) and then `MN`, which ends it. Replies map
//! onto the text module's items: `VA` is a value, `MN` the end.

use crate::keys::{Values, push_key};
use crate::proto_text::{Item, ProtoError, response_line, show};

/// Parses the item at the start of `buf`. Ok(None) means more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Item<'_>, usize)>, ProtoError> {
    let Some((line, used)) = response_line(buf)? else {
        return Ok(None);
    };
    let item = match line.get(..2).unwrap_or(line) {
        b"MN" => Item::End,
        b"HD" => Item::Stored,
        b"NS" => Item::NotStored,
        b"EX" => Item::Exists,
        b"NF" | b"EN" => Item::NotFound,
        b"VA" => return value(buf, line, used),
        _ if line.starts_with(b"CLIENT_ERROR")
            || line.starts_with(b"SERVER_ERROR")
            || line == b"ERROR" =>
        {
            Item::Error(line)
        }
        _ => return Err(ProtoError(format!("unexpected response: {:?}", show(line)))),
    };
    Ok(Some((item, used)))
}

/// `VA <len> f<flags> k<key>` and its data block.
fn value<'a>(
    buf: &'a [u8],
    line: &'a [u8],
    used: usize,
) -> Result<Option<(Item<'a>, usize)>, ProtoError> {
    let bad = || ProtoError(format!("malformed VA line: {:?}", show(line)));
    let mut parts = line.split(|&c| c == b' ').skip(1);
    let len: usize = parts
        .next()
        .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
        .ok_or_else(bad)?;
    let (mut key, mut flags) = (None, None);
    for p in parts {
        match p.first() {
            Some(b'k') => key = Some(&p[1..]),
            Some(b'f') => {
                flags = std::str::from_utf8(&p[1..])
                    .ok()
                    .and_then(|f| f.parse().ok())
            }
            _ => {}
        }
    }
    let (Some(key), Some(flags)) = (key, flags) else {
        return Err(bad());
    };
    let end = used + len;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(ProtoError(format!(
            "data block for {:?} not ended by CRLF",
            show(key)
        )));
    }
    Ok(Some((
        Item::Value {
            key,
            flags,
            data: &buf[used..end],
        },
        end + 2,
    )))
}

/// Appends `ms <key> <len> q\r\n<value>\r\nmn\r\n`; `scratch` is a reused key buffer.
#[inline]
pub fn push_set(out: &mut Vec<u8>, scratch: &mut Vec<u8>, prefix: &[u8], k: u64, vals: &Values) {
    scratch.clear();
    push_key(scratch, prefix, k);
    out.extend_from_slice(b"ms ");
    out.extend_from_slice(scratch);
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(vals.len(k)).as_bytes());
    out.extend_from_slice(b" q\r\n");
    vals.push(out, scratch, k);
    out.extend_from_slice(b"\r\nmn\r\n");
}

/// Appends one quiet get line, `mg <key> f k v q\r\n`.
#[inline]
pub fn push_get(out: &mut Vec<u8>, prefix: &[u8], k: u64) {
    out.extend_from_slice(b"mg ");
    push_key(out, prefix, k);
    out.extend_from_slice(b" f k v q\r\n");
}

/// Closes a request: `mn\r\n`.
#[inline]
pub fn push_end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"mn\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mut buf: &[u8]) -> Vec<Item<'_>> {
        let mut v = Vec::new();
        while let Some((it, n)) = parse(buf).unwrap() {
            v.push(it);
            buf = &buf[n..];
        }
        v
    }

    #[test]
    fn quiet_replies_end_at_mn() {
        let r = b"VA 3 f0 kkey:1\r\nabc\r\nMN\r\nNS\r\nMN\r\nCLIENT_ERROR bad data chunk\r\nMN\r\n";
        assert_eq!(
            all(r),
            vec![
                Item::Value {
                    key: b"key:1",
                    flags: 0,
                    data: b"abc"
                },
                Item::End,
                Item::NotStored,
                Item::End,
                Item::Error(b"CLIENT_ERROR bad data chunk"),
                Item::End,
            ]
        );
        assert!(parse(b"VA 3 f0 kk\r\nab").unwrap().is_none());
        assert!(parse(b"VA 3 kk\r\nabc\r\n").is_err());
        assert!(parse(b"WHAT\r\n").is_err());
    }

    #[test]
    fn request_bytes() {
        let vals = Values::new(8, 8);
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        push_set(&mut out, &mut scratch, b"key:", 7, &vals);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("ms key:7 8 q\r\nkey:7"), "{s}");
        assert!(s.ends_with("\r\nmn\r\n"));
        let mut out = Vec::new();
        push_get(&mut out, b"key:", 3);
        push_end(&mut out);
        assert_eq!(out, b"mg key:3 f k v q\r\nmn\r\n");
    }
}
