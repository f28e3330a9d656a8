//! memcached text protocol: writing set/get requests into a reused buffer, and parsing
//! responses one item at a time so a response split across reads is simply retried later.

use crate::keys::{Values, push_key};

/// One response item.
#[derive(Debug, PartialEq)]
pub enum Item<'a> {
    /// A `VALUE key flags bytes [cas]` line and its data block.
    Value {
        key: &'a [u8],
        flags: u32,
        data: &'a [u8],
    },
    End,
    Stored,
    NotStored,
    Exists,
    NotFound,
    /// ERROR, CLIENT_ERROR or SERVER_ERROR: the request failed but the stream is still in step.
    Error(&'a [u8]),
}

#[derive(Debug, PartialEq)]
pub struct ProtoError(pub String);

/// Longest response line we wait for before deciding the stream is garbage.
const MAX_LINE: usize = 2048;

fn num<T: std::str::FromStr>(b: &[u8]) -> Option<T> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

pub(crate) fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(80)]).into_owned()
}

/// The CRLF-ended response line at the start of `buf` (without its CRLF) and the bytes it
/// takes; Ok(None) while it has not all arrived. Shared by the text and meta parsers.
pub(crate) fn response_line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ProtoError> {
    let Some(eol) = memchr::memchr(b'\n', buf) else {
        if buf.len() > MAX_LINE {
            return Err(ProtoError(format!(
                "response line too long: {:?}",
                show(buf)
            )));
        }
        return Ok(None);
    };
    if eol == 0 || buf[eol - 1] != b'\r' {
        return Err(ProtoError(format!(
            "line not ended by CRLF: {:?}",
            show(&buf[..eol])
        )));
    }
    Ok(Some((&buf[..eol - 1], eol + 1)))
}

/// Parses the item at the start of `buf`. Ok(None) means more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Item<'_>, usize)>, ProtoError> {
    let Some((line, used)) = response_line(buf)? else {
        return Ok(None);
    };
    let item = match line {
        b"END" => Item::End,
        b"STORED" => Item::Stored,
        b"NOT_STORED" => Item::NotStored,
        b"EXISTS" => Item::Exists,
        b"NOT_FOUND" => Item::NotFound,
        b"ERROR" => Item::Error(line),
        _ if line.starts_with(b"VALUE ") => {
            let mut parts = line[6..].split(|&c| c == b' ');
            let bad = || ProtoError(format!("malformed VALUE line: {:?}", show(line)));
            let key = parts.next().filter(|k| !k.is_empty()).ok_or_else(bad)?;
            let flags: u32 = parts.next().and_then(num).ok_or_else(bad)?;
            let bytes: usize = parts.next().and_then(num).ok_or_else(bad)?;
            if let Some(cas) = parts.next() {
                num::<u64>(cas).ok_or_else(bad)?;
            }
            if parts.next().is_some() {
                return Err(bad());
            }
            let end = used + bytes;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtoError(format!(
                    "data block for {:?} not ended by CRLF",
                    show(key)
                )));
            }
            return Ok(Some((
                Item::Value {
                    key,
                    flags,
                    data: &buf[used..end],
                },
                end + 2,
            )));
        }
        _ if line.starts_with(b"CLIENT_ERROR") || line.starts_with(b"SERVER_ERROR") => {
            Item::Error(line)
        }
        _ => return Err(ProtoError(format!("unexpected response: {:?}", show(line)))),
    };
    Ok(Some((item, used)))
}

/// Appends `set <key> 0 0 <len>\r\n<value>\r\n`; `scratch` is a reused key buffer.
#[inline]
pub fn push_set(out: &mut Vec<u8>, scratch: &mut Vec<u8>, prefix: &[u8], k: u64, vals: &Values) {
    scratch.clear();
    push_key(scratch, prefix, k);
    out.extend_from_slice(b"set ");
    out.extend_from_slice(scratch);
    out.extend_from_slice(b" 0 0 ");
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(vals.len(k)).as_bytes());
    out.extend_from_slice(b"\r\n");
    vals.push(out, scratch, k);
    out.extend_from_slice(b"\r\n");
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
    fn simple_replies() {
        let r = b"STORED\r\nEND\r\nNOT_FOUND\r\nEXISTS\r\nNOT_STORED\r\n";
        assert_eq!(
            all(r),
            vec![
                Item::Stored,
                Item::End,
                Item::NotFound,
                Item::Exists,
                Item::NotStored
            ]
        );
    }

    #[test]
    fn values_with_and_without_cas() {
        let r = b"VALUE key:1 0 3\r\nabc\r\nVALUE key:2 5 0 99\r\n\r\nEND\r\n";
        assert_eq!(
            all(r),
            vec![
                Item::Value {
                    key: b"key:1",
                    flags: 0,
                    data: b"abc"
                },
                Item::Value {
                    key: b"key:2",
                    flags: 5,
                    data: b""
                },
                Item::End
            ]
        );
    }

    #[test]
    fn data_may_hold_crlf_and_the_word_end() {
        let r = b"VALUE k 0 5\r\nE\r\nND\r\nEND\r\n";
        assert_eq!(
            all(r),
            vec![
                Item::Value {
                    key: b"k",
                    flags: 0,
                    data: b"E\r\nND"
                },
                Item::End
            ]
        );
    }

    #[test]
    fn every_split_point_waits_for_more() {
        let r: &[u8] = b"VALUE key:1 0 10\r\n0123456789\r\nEND\r\nSTORED\r\n";
        for cut in 0..r.len() {
            let head = &r[..cut];
            match parse(head).unwrap() {
                None => {}
                Some((_, n)) => assert!(n <= cut),
            }
        }
        // The first item needs all 30 bytes: 18 of line, 10 of data, CRLF.
        assert!(parse(&r[..29]).unwrap().is_none());
        assert!(parse(&r[..30]).unwrap().is_some());
    }

    #[test]
    fn errors_are_items_garbage_is_fatal() {
        assert_eq!(all(b"ERROR\r\n"), vec![Item::Error(b"ERROR")]);
        assert_eq!(
            all(b"SERVER_ERROR out of memory\r\n"),
            vec![Item::Error(b"SERVER_ERROR out of memory")]
        );
        assert_eq!(
            all(b"CLIENT_ERROR bad data chunk\r\n"),
            vec![Item::Error(b"CLIENT_ERROR bad data chunk")]
        );
        assert!(parse(b"HELLO\r\n").is_err());
        assert!(parse(b"STORED\n").is_err());
        assert!(parse(b"VALUE k x 3\r\nabc\r\n").is_err());
        assert!(parse(b"VALUE k 0 3\r\nabcd\r\n").is_err());
        assert!(parse(&[b'x'; 4000]).is_err());
    }

    #[test]
    fn set_request_bytes() {
        let vals = Values::new(8, 8);
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        push_set(&mut out, &mut scratch, b"key:", 7, &vals);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("set key:7 0 0 8\r\nkey:7"), "{s}");
        assert!(s.ends_with("\r\n"));
        assert_eq!(s.len(), "set key:7 0 0 8\r\n".len() + 8 + 2);
    }
}
