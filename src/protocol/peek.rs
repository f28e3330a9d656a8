//! A cheap look at the next request in a pipelined buffer: its key and length, without the
//! full parse. The server uses it only to prefetch, so a wrong or missing answer costs speed,
//! never correctness.

use super::op::Op;
use super::text::{Parsed, Request, Words, parse};

/// The first request of `buf`: its key (`None` for a command without one) and its length in
/// bytes, data block included. `None` when the request is incomplete or is not one of the
/// classic text or meta commands, since then where the next request starts is not known.
pub fn peek_request(buf: &[u8]) -> Option<(Option<&[u8]>, usize)> {
    let nl = memchr::memchr(b'\n', buf)?;
    let line_len = nl + 1;
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    let mut w = Words::new(line).map(|(_, t)| t);
    let cmd = w.next()?;
    match cmd {
        b"get" | b"gets" | b"delete" | b"incr" | b"decr" | b"touch" => Some((w.next(), line_len)),
        // Meta lines other than ms are one line whatever they hold; a base64 key (`b`)
        // prefetches the wrong bucket, which costs only the prefetch.
        b"mg" | b"md" | b"ma" => Some((w.next(), line_len)),
        b"me" => Some((None, line_len)),
        b"ms" => match parse(buf) {
            Parsed::Done {
                consumed,
                req: Request::Meta(m),
            } if !m.flags.args.binary => Some((Some(m.key), consumed)),
            Parsed::Done { consumed, .. } => Some((None, consumed)),
            _ => None,
        },
        b"gat" | b"gats" => Some((w.nth(1), line_len)),
        // Where a storage request ends depends on every field being valid (the parser
        // consumes only the line otherwise), so these take the real parse.
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => match parse(buf) {
            Parsed::Done {
                consumed,
                req:
                    Request::Op {
                        op: Op::Store { key, .. },
                        ..
                    },
            } => Some((Some(key), consumed)),
            Parsed::Done { consumed, .. } => Some((None, consumed)),
            _ => None,
        },
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
        assert_eq!(peek_request(b"set k 0 0 10\r\nabc"), None);
        assert_eq!(peek_request(b"get k"), None);
        assert_eq!(peek_request(b"ms k 3\r\nab"), None);
        assert_eq!(
            peek_request(b"ms k 3 T1\r\nabc\r\n"),
            Some((Some(&b"k"[..]), 16))
        );
        assert_eq!(peek_request(b"mg k v\r\n"), Some((Some(&b"k"[..]), 8)));
        // A storage line the parser rejects is only a line: the data after it is read as
        // the next request, by both.
        assert_eq!(peek_request(b"set k 0 0 zz\r\nabc\r\n"), Some((None, 14)));
        assert_eq!(peek_request(b"set k 0 0 1 2 3\r\nx\r\n"), Some((None, 17)));
        assert_eq!(peek_request(b"get   k \r\n"), Some((Some(&b"k"[..]), 10)));
    }

    proptest::proptest! {
        /// Wherever peek says a request ends, the parser ends it too.
        #[test]
        fn agrees_with_the_parser(reqs in proptest::collection::vec(
            proptest::sample::select(vec![
                "get a\r\n", "gets a b\r\n", "gat 1 a\r\n", "set a 0 0 1\r\nx\r\n",
                "set a 0 0 1 2 3\r\nx\r\n", "set a x 0 1\r\nx\r\n", "cas a 0 0 1 5\r\nx\r\n",
                "set a 0 0 2\r\nx\r\n", "delete a\r\n", "incr a 1\r\n", "touch a 1\r\n",
                "version\r\n", "bogus\r\n", "set a 0 0 -1\r\n",
                "mg a v\r\n", "ms a 1 T1\r\nx\r\n", "ms a 1 Mz\r\nx\r\n", "ms a x\r\n",
                "md a q\r\n", "ma a\r\n", "mn\r\n", "me a\r\n",
            ]), 1..12)) {
            let buf: Vec<u8> = reqs.concat().into_bytes();
            let mut pos = 0;
            while let Some((_, len)) = peek_request(&buf[pos..]) {
                match parse(&buf[pos..]) {
                    Parsed::Done { consumed, .. } => proptest::prop_assert_eq!(len, consumed),
                    other => proptest::prop_assert!(false, "peek ended a request the parser did not: {:?}", other),
                }
                pos += len;
            }
        }

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
