//! Fuzzes the text protocol parser (src/protocol/text/parse.rs) with whatever a client could
//! send, and checks what the connection loop relies on: a request never reaches past the
//! buffer, a complete one parses the same however many bytes follow or precede its end,
//! keys are within memcached's 250 bytes, and the prefetch peek agrees with the parser.
#![no_main]

use corecached::protocol::Op;
use corecached::protocol::peek::peek_request;
use corecached::protocol::text::{KEY_MAX_LENGTH, LINE_LIMIT, Parsed, Request, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Walk the buffer as the connection does: request after request until one is not whole.
    let mut at = 0;
    for _ in 0..64 {
        let rest = &data[at..];
        let consumed = check(rest);
        check_peek(rest);
        match consumed {
            Some(n) => at += n,
            None => break,
        }
    }
});

/// Checks the first request of `buf`; returns its length when it is complete.
fn check(buf: &[u8]) -> Option<usize> {
    let first_nl = buf.iter().position(|&b| b == b'\n');
    match parse(buf) {
        Parsed::Done { consumed, req } => {
            let line_len = first_nl.expect("a request is a line at least") + 1;
            assert!(consumed >= line_len && consumed <= buf.len());
            check_request(&req, &buf[..consumed]);
            prefix_stable(buf, consumed, line_len);
            Some(consumed)
        }
        Parsed::NeedData {
            total,
            line_len,
            key,
            value_len,
            ..
        } => {
            assert_eq!(Some(line_len), first_nl.map(|n| n + 1));
            assert!(total > buf.len(), "NeedData for bytes already there");
            assert_eq!(total, line_len + value_len + 2);
            assert!(!key.is_empty() && key.len() <= KEY_MAX_LENGTH);
            completes(buf, total);
            None
        }
        Parsed::MetaNeedData {
            total, value_len, ..
        } => {
            let line_len = first_nl.expect("an ms line is whole") + 1;
            assert!(total > buf.len(), "MetaNeedData for bytes already there");
            assert_eq!(total, line_len + value_len + 2);
            None
        }
        Parsed::Swallow { total, .. } => {
            // An ms refused on its line: its data block goes too, here or still to come.
            let line_len = first_nl.expect("an ms line is whole") + 1;
            assert!(total >= line_len + 2);
            (total <= buf.len()).then_some(total)
        }
        Parsed::Incomplete => {
            assert!(first_nl.is_none(), "Incomplete with a whole line buffered");
            None
        }
        Parsed::Close => {
            // A runaway line with no end, or an HTTP request line.
            assert!(first_nl.is_some() || buf.len() > LINE_LIMIT);
            None
        }
    }
}

/// The same request parses from its own bytes, and with another request after it; cut
/// short, it is never complete.
fn prefix_stable(buf: &[u8], consumed: usize, line_len: usize) {
    let whole = &buf[..consumed];
    let want = parse(whole);
    assert_eq!(parse(buf), want, "more bytes after a request changed it");
    let mut more = whole.to_vec();
    more.extend_from_slice(b"get next\r\n");
    assert_eq!(parse(&more), want);
    for cut in [line_len - 1, line_len, consumed - 1] {
        if cut >= consumed {
            continue;
        }
        match parse(&buf[..cut]) {
            Parsed::Incomplete => assert!(cut < line_len),
            Parsed::Close => assert!(cut < line_len && cut > LINE_LIMIT),
            Parsed::NeedData { total, .. } | Parsed::MetaNeedData { total, .. } => {
                assert_eq!(total, consumed)
            }
            other => panic!("a request cut at {cut} of {consumed}: {other:?}"),
        }
    }
}

/// Whatever arrives to fill a storage request's data, the request then ends where NeedData
/// said it would.
fn completes(buf: &[u8], total: usize) {
    if total - buf.len() > 1 << 16 {
        return;
    }
    // Bytes already there stay: a wrong one where \r\n belongs still ends at `total`.
    let mut full = buf.to_vec();
    while full.len() < total - 2 {
        full.push(b'x');
    }
    let have = full.len() - (total - 2);
    full.extend_from_slice(&b"\r\n"[have..]);
    match parse(&full) {
        Parsed::Done { consumed, .. } => assert_eq!(consumed, total),
        other => panic!("data completed, still {other:?}"),
    }
}

fn check_key(key: &[u8]) {
    assert!(
        !key.is_empty() && key.len() <= KEY_MAX_LENGTH,
        "key of {}",
        key.len()
    );
    assert!(!key.contains(&b' ') && !key.contains(&b'\n') && !key.contains(&0));
}

fn check_request(req: &Request<'_>, bytes: &[u8]) {
    match req {
        Request::Op { op, .. } => {
            if let Some(key) = op.key() {
                check_key(key);
            }
            if let Op::Store { value, .. } = op {
                // The data block is the bytes before the final \r\n.
                assert!(bytes.ends_with(b"\r\n"));
                assert_eq!(
                    &bytes[bytes.len() - 2 - value.len()..bytes.len() - 2],
                    *value
                );
            }
        }
        Request::Get { keys, touch, .. } => {
            // `gat 0` with no key is memcached's too (it answers END); a get has a key.
            assert!(
                touch.is_some() || keys.iter().next().is_some(),
                "a get without a key"
            );
            keys.iter().for_each(check_key);
        }
        _ => {}
    }
}

/// Where the prefetch peek says a request ends, the parser ends it too (or closes).
fn check_peek(buf: &[u8]) {
    let Some((key, len)) = peek_request(buf) else {
        return;
    };
    assert!(len > 0 && len <= buf.len());
    if let Some(k) = key {
        assert!(!k.is_empty());
    }
    match parse(buf) {
        Parsed::Done { consumed, .. } => assert_eq!(consumed, len),
        Parsed::Close => {}
        other => panic!("peek ended a request at {len}, the parser says {other:?}"),
    }
}
