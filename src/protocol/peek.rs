//! A cheap look at the next request in a pipelined buffer: its key and length, without the
//! full parse. The server uses it only to prefetch, so a wrong or missing answer costs speed,
//! never correctness.

use super::number::parse_u64;
use super::text::Words;

/// The first request of `buf`: its key (`None` for a command without one) and its length in
/// bytes, data block included. `None` when the request is incomplete or is not one of the
/// classic text commands, since then where the next request starts is not known.
pub fn peek_request(buf: &[u8]) -> Option<(Option<&[u8]>, usize)> {
    let nl = memchr::memchr(b'\n', buf)?;
    let line_len = nl + 1;
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    let mut w = Words::new(line).map(|(_, t)| t);
    let cmd = w.next()?;
    match cmd {
        b"get" | b"gets" | b"delete" | b"incr" | b"decr" | b"touch" => Some((w.next(), line_len)),
        b"gat" | b"gats" => Some((w.nth(1), line_len)),
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => {
            let key = w.next()?;
            let bytes = parse_u64(w.nth(2)?)?;
            let total = (line_len as u64).checked_add(bytes)?.checked_add(2)?;
            (total <= buf.len() as u64).then_some((Some(key), total as usize))
        }
        b"version" | b"verbosity" | b"flush_all" | b"stats" | b"mn" => Some((None, line_len)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_a_pipeline() {
        let buf: &[u8] =
            b"get a\r\nset bb 0 0 3\r\nxyz\r\ngat 10 c d\r\nversion\r\ndelete e\r\nincr f 1\r\n";
        let mut pos = 0;
        let mut keys = Vec::new();
        while let Some((key, len)) = peek_request(&buf[pos..]) {
            keys.push(key);
            pos += len;
        }
        assert_eq!(pos, buf.len());
        let want: Vec<Option<&[u8]>> = vec![
            Some(b"a"),
            Some(b"bb"),
            Some(b"c"),
            None,
            Some(b"e"),
            Some(b"f"),
        ];
        assert_eq!(keys, want);
    }

    #[test]
    fn stops_where_the_next_request_is_unknown() {
        // Data not all here yet.
        assert_eq!(peek_request(b"set k 0 0 10\r\nabc"), None);
        // No line end yet.
        assert_eq!(peek_request(b"get k"), None);
        // A meta command's data length is elsewhere on the line.
        assert_eq!(peek_request(b"ms k 3\r\nabc\r\n"), None);
        // A nonsense length.
        assert_eq!(peek_request(b"set k 0 0 zz\r\nabc\r\n"), None);
        assert_eq!(peek_request(b"set k 0 0 18446744073709551615\r\n"), None);
        // Extra spaces are skipped, as the parser does.
        assert_eq!(peek_request(b"get   k \r\n"), Some((Some(&b"k"[..]), 10)));
    }

    proptest::proptest! {
        /// Any bytes: no panic, and a request never reaches past the buffer.
        #[test]
        fn never_overruns(buf in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just(b' '), proptest::strategy::Just(b'\n'),
                proptest::strategy::Just(b'\r'), b'0'..=b'9', b'a'..=b'z',
            ], 0..64),
            head in proptest::sample::select(vec!["get ", "set k 0 0 ", "gat 1 ", "cas k 1 2 "])) {
            let mut b = head.as_bytes().to_vec();
            b.extend_from_slice(&buf);
            if let Some((key, len)) = peek_request(&b) {
                proptest::prop_assert!(len <= b.len());
                if let Some(k) = key {
                    proptest::prop_assert!(!k.is_empty());
                }
            }
        }
    }
}
