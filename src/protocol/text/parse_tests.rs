//! The text parser against memcached's rules: fixed cases, then properties that any input
//! must satisfy (a request never depends on bytes after it, never reaches past the buffer,
//! and is not decided before it is complete) and round trips of well-formed requests.

use super::*;
use crate::protocol::op::strategies::kind as kind_strategy;
use crate::protocol::text::render::{
    ERR_DATA_CHUNK, ERR_DELETE_USAGE, ERR_DELTA, ERR_EXPTIME, ERR_FORMAT,
};
use proptest::prelude::*;

fn cmd(buf: &[u8]) -> Request<'_> {
    match parse(buf) {
        Parsed::Done { consumed, req } => {
            assert_eq!(
                consumed,
                buf.len(),
                "consumed for {:?}",
                String::from_utf8_lossy(buf)
            );
            req
        }
        other => panic!("not done: {other:?}"),
    }
}

fn err(buf: &[u8]) -> &'static str {
    match cmd(buf) {
        Request::Error { msg, .. } => msg,
        other => panic!("not an error: {other:?}"),
    }
}

/// Found by fuzzing meta_parse against memcached 1.6.18, which tokenizes a line as a C
/// string: a NUL ends the line there (its data block still follows the whole line).
#[test]
fn a_nul_ends_the_line() {
    let Request::Op {
        op: Op::Store { key, value, .. },
        noreply,
    } = cmd(b"set k 0 0 1\0 junk\r\nx\r\n")
    else {
        panic!()
    };
    assert_eq!((key, value, noreply), (&b"k"[..], &b"x"[..], false));
    let Request::Op { op, .. } = cmd(b"incr k 1\0\r\n") else {
        panic!()
    };
    assert_eq!(op.key(), Some(&b"k"[..]));
    assert_eq!(err(b"\0get k\r\n"), "ERROR");
    let Request::Meta(m) = cmd(b"ma a\0 k\r\n") else {
        panic!()
    };
    assert_eq!((m.key, m.tokens), (&b"a"[..], &b""[..]));
}

#[test]
fn get_keys_and_limits() {
    let Request::Get { keys, cas, touch } = cmd(b"gets a  b c\r\n") else {
        panic!()
    };
    assert!(cas);
    assert_eq!(touch, None);
    assert_eq!(keys.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"b", b"c"]);
    assert_eq!(err(b"get\r\n"), "ERROR");
    let long = [b"get a ".as_slice(), &[b'k'; 251], b" b\r\n"].concat();
    assert_eq!(err(&long), ERR_FORMAT);
    let Request::Get { touch, .. } = cmd(b"gat 10 k\n") else {
        panic!()
    };
    assert_eq!(touch, Some(10));
    assert_eq!(err(b"gat abc k\r\n"), ERR_EXPTIME);
}

#[test]
fn storage_commands() {
    let buf = b"set k 5 0 3\r\na\r\n\r\n";
    let Request::Op {
        op:
            Op::Store {
                kind,
                key,
                flags,
                value: data,
                ..
            },
        noreply,
    } = cmd(buf)
    else {
        panic!()
    };
    assert_eq!(
        (kind, key, flags, data, noreply),
        (StoreKind::Set, &b"k"[..], 5, &b"a\r\n"[..], false)
    );
    let Request::Op {
        op: Op::Store { kind, .. },
        noreply: true,
    } = cmd(b"cas k 0 0 1 99 noreply\r\nx\r\n")
    else {
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
            req: Request::Error { msg, noreply },
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
        Request::Op {
            op: Op::Delete { key: b"k", cas: 0 },
            noreply: false
        }
    );
    assert_eq!(
        cmd(b"delete k 0 noreply\r\n"),
        Request::Op {
            op: Op::Delete { key: b"k", cas: 0 },
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
        Request::Verbosity { noreply: false }
    );
    assert_eq!(
        cmd(b"flush_all abc\r\n"),
        Request::FlushAll {
            delay: None,
            noreply: false
        }
    );
    assert_eq!(
        cmd(b"flush_all noreply\r\n"),
        Request::FlushAll {
            delay: Some(0),
            noreply: true
        }
    );
    assert_eq!(
        cmd(b"flush_all 10\r\n"),
        Request::FlushAll {
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
fn cache_memlimit_and_slabs() {
    assert_eq!(
        cmd(b"cache_memlimit 8 noreply\r\n"),
        Request::CacheMemlimit {
            megabytes: 8,
            noreply: true
        }
    );
    assert_eq!(err(b"cache_memlimit\r\n"), "ERROR");
    assert_eq!(err(b"cache_memlimit x\r\n"), "ERROR");
    assert!(matches!(
        cmd(b"slabs automove 1\r\n"),
        Request::Slabs { args } if args.iter().count() == 2
    ));
}

/// Bytes that look like text requests: command words, numbers, keys, spaces, line ends.
fn requestish() -> impl Strategy<Value = Vec<u8>> {
    let pieces = proptest::sample::select(vec![
        "get ",
        "gets ",
        "gat ",
        "set ",
        "cas ",
        "add ",
        "append ",
        "delete ",
        "incr ",
        "touch ",
        "flush_all",
        "verbosity ",
        "noreply",
        "stats",
        "version",
        "lru_crawler ",
        "cache_memlimit ",
        "slabs ",
        "shutdown",
        "0 ",
        "1 ",
        "5 ",
        "-1 ",
        "18446744073709551616 ",
        "k ",
        "key ",
        "\r\n",
        "\n",
        " ",
        "x",
        "HTTP/1.1",
    ]);
    proptest::collection::vec(pieces, 0..16).prop_map(|p| p.concat().into_bytes())
}

/// Checks what must hold of `parse(buf)` whatever `buf` is.
fn check_invariants(buf: &[u8]) -> Result<(), TestCaseError> {
    match parse(buf) {
        Parsed::Done { consumed, req } => {
            prop_assert!(consumed > 0 && consumed <= buf.len());
            // A complete request depends on none of the bytes after it...
            prop_assert_eq!(parse(&buf[..consumed]), parse(buf));
            // ...and is not decided on any fewer.
            for k in 0..consumed {
                match parse(&buf[..k]) {
                    Parsed::Done { .. } => prop_assert!(false, "decided early at {}", k),
                    Parsed::NeedData { total, .. } | Parsed::MetaNeedData { total, .. } => {
                        prop_assert_eq!(total, consumed)
                    }
                    Parsed::Swallow { .. } => prop_assert!(false, "swallowed early at {}", k),
                    Parsed::Incomplete | Parsed::Close => {}
                }
            }
            let keys: Vec<&[u8]> = match req {
                Request::Get { keys, .. } => keys.iter().collect(),
                Request::Op { op, .. } => op.key().into_iter().collect(),
                Request::Meta(m) => vec![m.key],
                _ => vec![],
            };
            for key in keys {
                prop_assert!(!key.is_empty() && key.len() <= KEY_MAX_LENGTH);
                prop_assert!(!key.contains(&b' ') && !key.contains(&b'\n'));
            }
        }
        Parsed::NeedData {
            total, line_len, ..
        } => {
            prop_assert!(total > buf.len() && line_len <= buf.len());
            prop_assert_eq!(buf[line_len - 1], b'\n');
        }
        Parsed::MetaNeedData { total, .. } | Parsed::Swallow { total, .. } => {
            prop_assert!(total > 2 && buf.contains(&b'\n'));
        }
        Parsed::Incomplete => prop_assert!(!buf.contains(&b'\n')),
        Parsed::Close => {}
    }
    Ok(())
}

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        proptest::sample::select(b"abcxyz019_:-".to_vec()),
        1..=KEY_MAX_LENGTH,
    )
}

fn storage_line(kind: StoreKind, key: &[u8], flags: u32, exptime: i32, len: usize) -> Vec<u8> {
    let (name, cas) = match kind {
        StoreKind::Set => ("set", String::new()),
        StoreKind::Add => ("add", String::new()),
        StoreKind::Replace => ("replace", String::new()),
        StoreKind::Append => ("append", String::new()),
        StoreKind::Prepend => ("prepend", String::new()),
        StoreKind::Cas(c) => ("cas", format!(" {c}")),
        StoreKind::AppendCas(_) | StoreKind::PrependCas(_) => unreachable!("binary only"),
    };
    let mut line = format!("{name} ").into_bytes();
    line.extend_from_slice(key);
    line.extend_from_slice(format!(" {flags} {exptime} {len}{cas}").as_bytes());
    line
}

proptest! {
    #[test]
    fn any_bytes_keep_the_invariants(buf in requestish()) {
        check_invariants(&buf)?;
    }

    #[test]
    fn arbitrary_bytes_keep_the_invariants(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_invariants(&buf)?;
    }

    /// A well-formed storage request, followed by anything, parses back to exactly its
    /// fields and ends exactly where it ends.
    #[test]
    fn storage_requests_round_trip(
        kind in kind_strategy(), key in key_strategy(), flags in any::<u32>(),
        exptime in any::<i32>(), value in proptest::collection::vec(any::<u8>(), 0..300),
        noreply in any::<bool>(), tail in requestish(),
    ) {
        let mut buf = storage_line(kind, &key, flags, exptime, value.len());
        if noreply {
            buf.extend_from_slice(b" noreply");
        }
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(&value);
        buf.extend_from_slice(b"\r\n");
        let len = buf.len();
        buf.extend_from_slice(&tail);
        let want = Request::Op {
            op: Op::Store { kind, key: &key, flags, exptime, value: &value },
            noreply,
        };
        prop_assert_eq!(parse(&buf), Parsed::Done { consumed: len, req: want });
    }

    /// Multi-key retrievals keep every key, in order, however they are spaced.
    #[test]
    fn get_keys_round_trip(
        keys in proptest::collection::vec(key_strategy(), 1..20),
        gap in 1usize..4, cas in any::<bool>(), touch in proptest::option::of(any::<i32>()),
    ) {
        let name = match (touch.is_some(), cas) {
            (false, false) => "get".to_string(),
            (false, true) => "gets".to_string(),
            (true, c) => format!("{} {}", if c { "gats" } else { "gat" }, touch.unwrap_or(0)),
        };
        let mut buf = name.into_bytes();
        for k in &keys {
            buf.extend(std::iter::repeat_n(b' ', gap));
            buf.extend_from_slice(k);
        }
        buf.extend_from_slice(b"\r\n");
        let Parsed::Done { consumed, req: Request::Get { keys: got, cas: c, touch: t } } =
            parse(&buf)
        else {
            return Err(TestCaseError::fail("not a get"));
        };
        prop_assert_eq!(consumed, buf.len());
        prop_assert_eq!((c, t), (cas, touch));
        prop_assert_eq!(got.iter().collect::<Vec<_>>(), keys.iter().map(|k| &k[..]).collect::<Vec<_>>());
    }

    /// The one-key get read without the tokenizer is exactly what the tokenizer reads,
    /// keys' slice included (a multi-get resumes from offsets into it).
    #[test]
    fn quick_get_is_the_tokenizers_get(
        name in prop_oneof![Just(&b"get "[..]), Just(&b"gets "[..])],
        rest in proptest::collection::vec(
            prop_oneof![Just(b' '), Just(b'\r'), Just(b'\n'), Just(0u8), Just(b'\t'), Just(b'k'), any::<u8>()],
            0..12,
        ),
        long in 0usize..3,
    ) {
        let mut buf = name.to_vec();
        // Keys about the length limit, and short ones.
        buf.extend(std::iter::repeat_n(b'k', [0, KEY_MAX_LENGTH - 2, KEY_MAX_LENGTH + 1][long]));
        buf.extend_from_slice(&rest);
        prop_assert_eq!(parse(&buf), tokenized(&buf));
        if let (Parsed::Done { req: Request::Get { keys: a, .. }, .. },
                Parsed::Done { req: Request::Get { keys: b, .. }, .. }) = (parse(&buf), tokenized(&buf)) {
            prop_assert_eq!(a.0.as_ptr(), b.0.as_ptr());
        }
    }

    /// One-key commands carry their key and number through.
    #[test]
    fn key_and_number_round_trip(key in key_strategy(), n in any::<u64>(), which in 0u8..4) {
        let (line, want) = match which {
            0 => (format!(" {n}"), Op::Arith { incr: true, key: &key[..], delta: n, init: None, cas: 0 }),
            1 => (format!(" {n}"), Op::Arith { incr: false, key: &key[..], delta: n, init: None, cas: 0 }),
            2 => (format!(" {}", n as i32), Op::Touch { key: &key[..], exptime: n as i32 }),
            _ => (String::new(), Op::Delete { key: &key[..], cas: 0 }),
        };
        let name = ["incr ", "decr ", "touch ", "delete "][which as usize];
        let mut buf = name.as_bytes().to_vec();
        buf.extend_from_slice(&key);
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\r\n");
        let len = buf.len();
        prop_assert_eq!(
            parse(&buf),
            Parsed::Done { consumed: len, req: Request::Op { op: want, noreply: false } }
        );
    }
}
