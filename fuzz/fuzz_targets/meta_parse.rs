//! Fuzzes the meta protocol parser (src/protocol/meta/, reached through the text parser that
//! reads the same stream) and its flag rendering: a meta request never reaches past the
//! buffer and parses the same whatever follows it, its key is 1 to 250 bytes (after base64
//! decoding under `b`), its flags are what a second pre-parse of its tokens says, errors
//! are memcached's texts, and a reply echoes the request's return flags in their order.
#![no_main]

use corecached::protocol::meta::flags::{decode_key, preparse};
use corecached::protocol::meta::render::{self as mr, Echo};
use corecached::protocol::meta::{Flags, Request};
use corecached::protocol::number::parse_i32;
use corecached::protocol::op::{
    Item, MetaCmd, MetaHit, MetaOutcome, MetaStatus, MetaTimes, Outcome,
};
use corecached::protocol::text::{
    KEY_MAX_LENGTH, LINE_LIMIT, Parsed, Request as TextRequest, parse,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    for _ in 0..64 {
        match check(&data[at..]) {
            Some(n) => at += n,
            None => break,
        }
    }
});

/// Every text an error from a meta line may carry: memcached's, none of our own.
const META_ERRORS: &[&str] = &[
    mr::ERROR,
    mr::ERR_FORMAT,
    mr::ERR_DATA_CHUNK,
    mr::ERR_DUPLICATE,
    mr::ERR_INVALID_FLAG,
    mr::ERR_INVALID_OR_DUP,
    mr::ERR_DECODE_KEY,
    mr::ERR_BAD_TOKEN,
    mr::ERR_M_LENGTH,
    mr::ERR_INITIAL,
    mr::ERR_DELTA,
    mr::ERR_OPAQUE,
    mr::ERR_FLAGS_LONG,
    mr::ERR_FLAGS_TOO_LONG,
    mr::ERR_MS_MODE,
    mr::ERR_MA_MODE,
];

fn is_meta_line(line: &[u8]) -> bool {
    matches!(line_words(line).next(), Some([b'm', _]))
}

/// Checks the first request of `buf`; returns its length when it is whole and the walk
/// may go on.
fn check(buf: &[u8]) -> Option<usize> {
    let line_len = buf.iter().position(|&b| b == b'\n')? + 1;
    let meta = is_meta_line(&buf[..line_len]);
    let got = parse(buf);
    match got {
        Parsed::Done { consumed, ref req } => {
            assert!(consumed >= line_len && consumed <= buf.len());
            if meta {
                check_done(req, &buf[..consumed], line_len);
                prefix_stable(buf, consumed, line_len);
            }
            Some(consumed)
        }
        Parsed::MetaNeedData {
            total,
            value_len,
            req,
        } => {
            assert!(meta && req.cmd == MetaCmd::Set);
            assert!(total > buf.len(), "MetaNeedData for bytes already there");
            assert_eq!(total, line_len + value_len + 2);
            check_request(&req, &buf[..line_len]);
            completes(buf, total, line_len);
            None
        }
        Parsed::Swallow { total, msg } => {
            assert!(meta && META_ERRORS.contains(&msg), "swallow with {msg}");
            assert!(total >= line_len + 2);
            let words: Vec<&[u8]> = line_words(&buf[..line_len]).collect();
            assert!(words[0] == b"ms" && words.len() >= 3, "only ms swallows");
            assert_eq!(Some(total - line_len - 2), length(words[2]));
            (total <= buf.len()).then_some(total)
        }
        Parsed::NeedData { .. } | Parsed::Incomplete | Parsed::Close => {
            assert!(!meta, "a meta line answered {got:?}");
            None
        }
    }
}

/// ms's value length as memcached's strtol reads it.
fn length(word: &[u8]) -> Option<usize> {
    parse_i32(word).and_then(|n| usize::try_from(n).ok())
}

/// The words of a request line as memcached's tokenizer sees them: without its `\r\n`,
/// ended by a NUL, split at spaces.
fn line_words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = match line.strip_suffix(b"\r") {
        Some(l) if !l.is_empty() => l,
        _ => line,
    };
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    line.split(|&b| b == b' ').filter(|w| !w.is_empty())
}

fn check_done(req: &TextRequest<'_>, bytes: &[u8], line_len: usize) {
    match req {
        TextRequest::Meta(r) => {
            check_request(r, &bytes[..line_len]);
            if r.cmd == MetaCmd::Set {
                // The data block is exactly the bytes before the final \r\n.
                assert_eq!(bytes.len(), line_len + r.value.len() + 2);
                assert_eq!(&bytes[line_len..bytes.len() - 2], r.value);
                let words: Vec<&[u8]> = line_words(&bytes[..line_len]).collect();
                assert_eq!(length(words[2]), Some(r.value.len()));
                assert!(bytes.ends_with(b"\r\n"));
            } else {
                assert_eq!(bytes.len(), line_len);
                assert!(r.value.is_empty());
            }
            render_round_trip(r);
        }
        TextRequest::MetaNoop => assert_eq!(bytes.len(), line_len),
        TextRequest::Error { msg, noreply } => {
            assert!(
                META_ERRORS.contains(msg),
                "an error memcached never sends: {msg}"
            );
            assert!(!noreply);
        }
        other => panic!("a meta line parsed as {other:?}"),
    }
}

/// What every accepted meta request satisfies.
fn check_request(r: &Request<'_>, line: &[u8]) {
    let words: Vec<&[u8]> = line_words(line).collect();
    assert_eq!(words[1], r.key, "the key is the second word");
    assert!(!r.key.is_empty() && r.key.len() <= KEY_MAX_LENGTH);
    let mut buf = [0; 256];
    let key = r.key(&mut buf);
    assert!(!key.is_empty() && key.len() <= KEY_MAX_LENGTH);
    if r.flags.args.binary {
        let mut dec = [0; 256];
        let dec = decode_key(r.key, &mut dec).expect("b with a key that does not decode");
        // memcached ignores stray low bits in the last character; `k` writes the key
        // back canonically, which decodes the same and is as long.
        let again = engine_encode(dec);
        assert_eq!(again.len(), r.key.len());
        assert_eq!(decode_key(again.as_bytes(), &mut [0; 256]), Some(&*dec));
    }
    for w in [r.key, r.tokens] {
        assert!(
            !w.contains(&0) && !w.contains(&b'\n'),
            "a NUL or newline in {w:?}"
        );
    }
    if r.cmd == MetaCmd::Debug {
        assert!(r.tokens.is_empty());
        return;
    }
    let tokens: Vec<&[u8]> = r
        .tokens
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .collect();
    // ms's length is not a flag; everything after it is.
    let skip = if r.cmd == MetaCmd::Set { 3 } else { 2 };
    assert_eq!(tokens, words[skip..], "tokens are the rest of the line");
    assert!(words.len() < 20, "memcached's token limit");
    let mut seen = [false; 128];
    for t in &tokens {
        assert!(
            t[0] < 127 && !seen[t[0] as usize],
            "a repeated flag accepted"
        );
        seen[t[0] as usize] = true;
        assert!(b"bNTROPLkstcfhlvuqIFCMJD".contains(&t[0]), "unknown flag");
        // memcached notices an over-long opaque only while answering (mg, ma): accepted,
        // then, but marked to answer that error.
        if t[0] == b'O' {
            let late = r.flags.args.opaque_error;
            assert!(t.len() <= 32 || late, "opaque of {} unmarked", t.len());
        }
    }
    let again = preparse(tokens.iter().copied(), r.key).expect("accepted flags re-parse");
    assert_eq!(again, r.flags, "a second pre-parse disagrees");
    assert_eq!(r.flags.quiet, seen[b'q' as usize]);
    assert_eq!(r.flags.value, seen[b'v' as usize]);
    assert_eq!(r.flags.args.binary, seen[b'b' as usize]);
    let mode = r.flags.args.mode;
    match r.cmd {
        MetaCmd::Set => assert!(b"\0EAPRS".contains(&mode)),
        MetaCmd::Arith => assert!(b"\0I+D-".contains(&mode)),
        _ => {}
    }
}

fn engine_encode(b: &[u8]) -> String {
    // The renderer's own encoder writes `k` for a binary key: read it back from there.
    let mut out = Vec::new();
    let item = Item {
        key: b,
        flags: 0,
        value: b"",
        cas: 0,
    };
    let hit = hit_of(item, true);
    let f = Flags::default();
    let e = Echo {
        cmd: MetaCmd::Get,
        flags: &f,
        key: b"",
        tokens: b"k",
    };
    mr::outcome(&mut out, Some(&Outcome::Meta(MetaOutcome::Hit(hit))), &e);
    let line = out
        .strip_prefix(b"HD k")
        .unwrap()
        .strip_suffix(b" b W\r\n")
        .unwrap();
    String::from_utf8(line.to_vec()).unwrap()
}

fn hit_of(item: Item<'_>, binary: bool) -> MetaHit<'_> {
    MetaHit {
        item,
        times: MetaTimes {
            now: 100,
            exp: 0,
            exp_touch: 150,
            exp_vivify: 160,
            created: false,
        },
        idle: 3,
        fetched: true,
        token_sent: false,
        stale: false,
        won: true,
        binary,
    }
}

/// The reply to the request names its return flags in request order: a hit writes each of
/// s t c f l h O k, a status writes O and k (and c for ms), and the value block follows.
fn render_round_trip(r: &Request<'_>) {
    if r.cmd == MetaCmd::Debug {
        return;
    }
    let mut kbuf = [0; 256];
    let key = r.key(&mut kbuf);
    let echo = Echo {
        cmd: r.cmd,
        flags: &r.flags,
        key: r.key,
        tokens: r.tokens,
    };
    let tokens: Vec<&[u8]> = r
        .tokens
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .collect();
    let value: &[u8] = if r.cmd == MetaCmd::Set {
        r.value
    } else {
        b"abc"
    };
    let item = Item {
        key,
        flags: 7,
        value,
        cas: 9,
    };
    let mut out = Vec::new();
    let hit = Outcome::Meta(MetaOutcome::Hit(hit_of(item, r.flags.args.binary)));
    mr::outcome(&mut out, Some(&hit), &echo);
    if r.flags.args.opaque_error {
        // The error memcached meets while writing the answer replaces the answer.
        assert_eq!(
            out, b"CLIENT_ERROR opaque token too long\r\n",
            "late opaque error"
        );
        return;
    }
    let head = if r.flags.value {
        format!("VA {}", value.len())
    } else {
        "HD".into()
    };
    let mut want = head.into_bytes();
    expected_flags(&mut want, &tokens, r, b"stcflhOk");
    want.extend_from_slice(b" W\r\n");
    if r.flags.value {
        want.extend_from_slice(value);
        want.extend_from_slice(b"\r\n");
    }
    assert_eq!(out, want, "hit rendered wrongly");

    out.clear();
    let st = Outcome::Meta(MetaOutcome::Status {
        status: MetaStatus::NotFound,
        cas: 9,
    });
    mr::outcome(&mut out, Some(&st), &echo);
    let mut want = b"NF".to_vec();
    let echoed: &[u8] = if r.cmd == MetaCmd::Set { b"Okc" } else { b"Ok" };
    expected_flags(&mut want, &tokens, r, echoed);
    want.extend_from_slice(b"\r\n");
    assert_eq!(out, want, "status rendered wrongly");
}

/// What the renderer should write for `tokens` whose flag letter is in `which`, with the
/// item of [`render_round_trip`] (flags 7, cas 9, idle 3, fetched, no TTL unless T).
fn expected_flags(out: &mut Vec<u8>, tokens: &[&[u8]], r: &Request<'_>, which: &[u8]) {
    let vlen = if r.cmd == MetaCmd::Set {
        r.value.len()
    } else {
        3
    };
    let mut ttl = "-1".to_string();
    for t in tokens {
        if t[0] == b'T' {
            ttl = "50".into();
        }
        if !which.contains(&t[0]) {
            continue;
        }
        let word = match t[0] {
            b's' => format!("s{vlen}").into_bytes(),
            b't' => format!("t{ttl}").into_bytes(),
            b'c' => b"c9".to_vec(),
            b'f' => b"f7".to_vec(),
            b'l' => b"l3".to_vec(),
            b'h' => b"h1".to_vec(),
            b'O' => t.to_vec(),
            b'k' if r.flags.args.binary => {
                let mut dec = [0; 256];
                let dec = decode_key(r.key, &mut dec).unwrap();
                [b"k", engine_encode(dec).as_bytes(), b" b"].concat()
            }
            _ => [b"k", r.key].concat(),
        };
        out.push(b' ');
        out.extend_from_slice(&word);
    }
}

/// The same request parses from its own bytes and with another after it; cut short it is
/// never complete: before its newline it waits, inside an ms data block it asks for the
/// same total.
fn prefix_stable(buf: &[u8], consumed: usize, line_len: usize) {
    let want = parse(&buf[..consumed]);
    assert_eq!(parse(buf), want, "more bytes after a request changed it");
    let mut more = buf[..consumed].to_vec();
    more.extend_from_slice(b"mn\r\n");
    assert_eq!(parse(&more), want);
    for cut in [0, line_len - 1, line_len, consumed - 1] {
        if cut >= consumed {
            continue;
        }
        match parse(&buf[..cut]) {
            Parsed::Incomplete => assert!(cut < line_len),
            Parsed::Close => assert!(cut < line_len && cut > LINE_LIMIT),
            Parsed::MetaNeedData { total, .. } => assert_eq!(total, consumed),
            other => panic!("a request of {consumed} cut at {cut}: {other:?}"),
        }
    }
}

/// Whatever arrives to fill an ms data block, the request then ends where MetaNeedData
/// said: the value when the block ends in \r\n, memcached's bad data chunk if not.
fn completes(buf: &[u8], total: usize, line_len: usize) {
    if total - buf.len() > 1 << 16 {
        return;
    }
    let mut full = buf.to_vec();
    while full.len() < total - 2 {
        full.push(b'x');
    }
    let have = full.len() - (total - 2);
    full.extend_from_slice(&b"\r\n"[have..]);
    let good = &full[total - 2..total] == b"\r\n";
    match parse(&full) {
        Parsed::Done {
            consumed,
            req: TextRequest::Meta(r),
        } if good => {
            assert_eq!(consumed, total);
            assert_eq!(r.value, &full[line_len..total - 2]);
        }
        Parsed::Done {
            consumed,
            req: TextRequest::Error { msg, .. },
        } if !good => {
            assert_eq!(consumed, total);
            assert_eq!(msg, mr::ERR_DATA_CHUNK);
        }
        other => panic!("data completed, still {other:?}"),
    }
}
