//! The parser's checks in memcached's order, each opcode's shape, and input cut anywhere
//! never mistaken for a request.

use super::*;
use proptest::prelude::*;

/// A request packet with these fields.
fn packet(opcode: u8, key: &[u8], ext: &[u8], value: &[u8], cas: u64) -> Vec<u8> {
    let mut b = vec![REQUEST_MAGIC, opcode];
    b.extend_from_slice(&(key.len() as u16).to_be_bytes());
    b.push(ext.len() as u8);
    b.extend_from_slice(&[0, 0, 0]);
    let body = ext.len() + key.len() + value.len();
    b.extend_from_slice(&(body as u32).to_be_bytes());
    b.extend_from_slice(&[1, 2, 3, 4]);
    b.extend_from_slice(&cas.to_be_bytes());
    b.extend_from_slice(ext);
    b.extend_from_slice(key);
    b.extend_from_slice(value);
    b
}

fn cmd_of(b: &[u8]) -> (Cmd<'_>, usize, usize) {
    match parse(b, false) {
        Parsed::Done {
            consumed,
            swallow,
            req,
        } => (req.cmd, consumed, swallow),
        other => panic!("{other:?}"),
    }
}

const CLOSE_EINVAL: Cmd<'static> = Cmd::Error {
    status: Status::InvalidArguments,
    close: true,
};

#[test]
fn get_family_and_quiet_variants() {
    let b = packet(GETKQ, b"k", b"", b"", 0);
    let Parsed::Done { req, consumed, .. } = parse(&b, false) else {
        panic!()
    };
    assert_eq!(consumed, b.len());
    assert_eq!(
        (req.reply.cmd, req.reply.quiet, req.reply.opcode),
        (GETK, true, GETKQ)
    );
    assert_eq!(
        req.cmd,
        Cmd::Op(Op::Get {
            key: b"k",
            touch: None
        })
    );
    let b = packet(GAT, b"k", &7u32.to_be_bytes(), b"", 0);
    assert_eq!(
        cmd_of(&b).0,
        Cmd::Op(Op::Get {
            key: b"k",
            touch: Some(7)
        })
    );
    // A get with a body beyond its key is a protocol error.
    assert_eq!(cmd_of(&packet(GET, b"k", b"", b"x", 0)).0, CLOSE_EINVAL);
    assert_eq!(cmd_of(&packet(GET, b"", b"", b"", 0)).0, CLOSE_EINVAL);
}

#[test]
fn stores_take_flags_exptime_and_cas() {
    let mut ext = 5u32.to_be_bytes().to_vec();
    ext.extend_from_slice(&100u32.to_be_bytes());
    let b = packet(SETQ, b"key", &ext, b"value", 0);
    let op = Op::Store {
        kind: StoreKind::Set,
        key: b"key",
        flags: 5,
        exptime: 100,
        value: b"value",
    };
    assert_eq!(cmd_of(&b), (Cmd::Op(op), b.len(), 0));
    let b = packet(ADD, b"key", &ext, b"v", 9);
    let Cmd::Op(Op::Store { kind, .. }) = cmd_of(&b).0 else {
        panic!()
    };
    assert_eq!(kind, StoreKind::Cas(9));
    let b = packet(APPEND, b"key", b"", b"tail", 0);
    let Cmd::Op(Op::Store { kind, value, .. }) = cmd_of(&b).0 else {
        panic!()
    };
    assert_eq!((kind, value), (StoreKind::Append, &b"tail"[..]));
    // Extras of the wrong size.
    assert_eq!(cmd_of(&packet(SET, b"k", b"1234", b"v", 0)).0, CLOSE_EINVAL);
    assert_eq!(
        cmd_of(&packet(APPEND, b"k", b"1234", b"v", 0)).0,
        CLOSE_EINVAL
    );
}

/// Found by diffing the binary_parse corpus against memcached 1.6.18: an exptime of 2^31
/// or more is unsigned there (an absolute time after 2038), not negative and expired.
#[test]
fn exptimes_are_unsigned() {
    let far = 0xffff_ff02u32.to_be_bytes();
    let set = packet(SET, b"k", &[[0; 4], far].concat(), b"v", 0);
    let (Cmd::Op(Op::Store { exptime, .. }), ..) = cmd_of(&set) else {
        panic!()
    };
    assert_eq!(exptime, i32::MAX);
    let gat = packet(GAT, b"k", &far, b"", 0);
    let (Cmd::Op(Op::Get { touch, .. }), ..) = cmd_of(&gat) else {
        panic!()
    };
    assert_eq!(touch, Some(i32::MAX));
    let incr = packet(
        INCREMENT,
        b"k",
        &[[0; 16].as_slice(), &far].concat(),
        b"",
        0,
    );
    let (Cmd::Op(Op::Arith { init, .. }), ..) = cmd_of(&incr) else {
        panic!()
    };
    assert_eq!(init.map(|i| i.exptime), Some(i32::MAX));
    let flush = packet(FLUSH, b"", &0x8000_0000u32.to_be_bytes(), b"", 0);
    assert_eq!(cmd_of(&flush).0, Cmd::Flush { delay: i32::MAX });
    let small = packet(TOUCH, b"k", &100u32.to_be_bytes(), b"", 0);
    let (Cmd::Op(Op::Get { touch, .. }), ..) = cmd_of(&small) else {
        panic!()
    };
    assert_eq!(touch, Some(100));
}

#[test]
fn a_store_whose_value_is_still_arriving_asks_for_it() {
    let b = packet(SET, b"key", &[0; 8], b"value", 0);
    match parse(&b[..b.len() - 2], false) {
        Parsed::NeedValue {
            total,
            key,
            value_len,
            ..
        } => assert_eq!((total, key, value_len), (b.len(), &b"key"[..], 5)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn incr_with_and_without_an_initial_value() {
    let mut ext = 3u64.to_be_bytes().to_vec();
    ext.extend_from_slice(&10u64.to_be_bytes());
    ext.extend_from_slice(&u32::MAX.to_be_bytes());
    let op = |init| {
        Cmd::Op(Op::Arith {
            incr: false,
            key: b"n",
            delta: 3,
            init,
            cas: 0,
        })
    };
    assert_eq!(cmd_of(&packet(DECREMENTQ, b"n", &ext, b"", 0)).0, op(None));
    ext[16..].copy_from_slice(&0u32.to_be_bytes());
    let init = Some(ArithInit {
        value: 10,
        exptime: 0,
    });
    assert_eq!(cmd_of(&packet(DECREMENT, b"n", &ext, b"", 0)).0, op(init));
}

#[test]
fn checks_come_in_memcacheds_order() {
    // Key and extras longer than the body: unknown command, then close.
    let mut b = packet(GET, b"key", b"", b"", 0);
    b[11] = 1;
    let closing_unknown = Cmd::Error {
        status: Status::UnknownCommand,
        close: true,
    };
    assert_eq!(cmd_of(&b).0, closing_unknown);
    // Unauthenticated: everything but SASL and version is refused.
    let b = packet(GET, b"key", b"", b"", 0);
    let Parsed::Done { req, .. } = parse(&b, true) else {
        panic!()
    };
    assert_eq!(
        req.cmd,
        Cmd::Error {
            status: Status::AuthError,
            close: true
        }
    );
    let v = packet(VERSION, b"", b"", b"", 0);
    assert!(matches!(
        parse(&v, true),
        Parsed::Done {
            req: Request {
                cmd: Cmd::Version,
                ..
            },
            ..
        }
    ));
    // A key over 250 bytes.
    assert_eq!(
        cmd_of(&packet(GET, &[b'a'; 251], b"", b"", 0)).0,
        CLOSE_EINVAL
    );
    // An unknown opcode swallows its body and keeps the connection.
    let b = packet(0x5f, b"", b"", b"xyz", 0);
    let unknown = Cmd::Error {
        status: Status::UnknownCommand,
        close: false,
    };
    assert_eq!(cmd_of(&b), (unknown, 24, 3));
    // Verbosity is unknown to memcached 1.6's binary protocol.
    assert_eq!(cmd_of(&packet(VERBOSITY, b"", &[0; 4], b"", 0)).0, unknown);
    let mut bad = packet(NOOP, b"", b"", b"", 0);
    bad[0] = b'g';
    assert_eq!(parse(&bad, false), Parsed::BadMagic);
}

#[test]
fn sasl_auth_carries_mechanism_and_data() {
    let b = packet(SASL_AUTH, b"PLAIN", b"", b"\0u\0p", 0);
    assert_eq!(
        cmd_of(&b).0,
        Cmd::SaslAuth {
            mech: b"PLAIN",
            data: b"\0u\0p"
        }
    );
    let long = packet(SASL_AUTH, &[b'M'; 33], b"", b"ab", 0);
    let (c, consumed, swallow) = cmd_of(&long);
    assert_eq!((consumed, swallow), (24 + 33, 2));
    assert!(matches!(
        c,
        Cmd::Error {
            status: Status::InvalidArguments,
            close: false
        }
    ));
}

proptest! {
    /// A request cut short is never taken for a whole one: the parser waits for more.
    #[test]
    fn a_cut_request_waits(op in 0u8..0x30, key in proptest::collection::vec(any::<u8>(), 0..20),
                           ext in proptest::collection::vec(any::<u8>(), 0..21),
                           value in proptest::collection::vec(any::<u8>(), 0..20)) {
        let b = packet(op, &key, &ext, &value, 0);
        for cut in 0..24 + ext.len() + key.len() {
            let waits = matches!(parse(&b[..cut], false), Parsed::Incomplete { .. });
            prop_assert!(waits, "cut {}", cut);
        }
    }

    /// Any bytes after the magic byte parse to something, without a panic.
    #[test]
    fn arbitrary_bytes_never_panic(mut b in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Some(first) = b.first_mut() {
            *first = REQUEST_MAGIC;
        }
        let _ = parse(&b, false);
        let _ = parse(&b, true);
    }
}

#[test]
fn peek_walks_whole_simple_requests_and_stops_elsewhere() {
    let get = packet(GETKQ, b"key", b"", b"", 0);
    let set = packet(SET, b"k2", &[0; 8], b"value", 0);
    let noop = packet(NOOP, b"", b"", b"", 0);
    assert_eq!(peek(&get), Some((Some(&b"key"[..]), get.len())));
    assert_eq!(peek(&set), Some((Some(&b"k2"[..]), set.len())));
    assert_eq!(peek(&noop), Some((None, 24)));
    assert_eq!(peek(&set[..set.len() - 1]), None);
    assert_eq!(peek(&packet(STAT, b"", b"", b"", 0)), None);
    assert_eq!(peek(&packet(GET, b"k", b"", b"x", 0)), None);
}
