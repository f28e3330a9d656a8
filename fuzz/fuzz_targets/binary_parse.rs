//! Fuzzes the binary protocol parser (src/protocol/binary/parse.rs) and its response
//! header: what the parser takes is what the header's key, extras and body lengths say,
//! a request parses the same whatever follows it and waits when cut short, keys are 1 to
//! 250 bytes, errors are the statuses memcached answers, a locked connection reaches only
//! SASL and version, and response headers read back as written.
#![no_main]

use corecached::protocol::binary::header::{REQUEST_MAGIC, RESPONSE_MAGIC, write_response};
use corecached::protocol::binary::render::{outcome, status};
use corecached::protocol::binary::{Cmd, HEADER_LEN, Header, Parsed, Status, opcode, parse};
use corecached::protocol::op::{Item, Op, Outcome};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte says whether SASL is on and the connection not yet authenticated.
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let locked = mode & 1 == 1;
    for _ in 0..64 {
        header_round_trip(rest);
        match check(rest, locked) {
            Some(n) => rest = &rest[n..],
            None => break,
        }
    }
});

/// The header's lengths: (extras, key, body) and where the key ends.
fn lengths(h: &Header) -> (usize, usize, usize, usize) {
    let (ext, key, body) = (h.extlen as usize, h.keylen as usize, h.bodylen as usize);
    (ext, key, body, HEADER_LEN + ext + key)
}

/// Checks the request at the start of `b`; returns where the next one starts when the
/// connection would go on reading.
fn check(b: &[u8], locked: bool) -> Option<usize> {
    match parse(b, locked) {
        Parsed::Incomplete { need } => {
            assert!(
                need > b.len(),
                "Incomplete with {need} of {} there",
                b.len()
            );
            if b.len() >= HEADER_LEN {
                let h = Header::read(b);
                let (_, _, body, fixed) = lengths(&h);
                assert_eq!(h.magic, REQUEST_MAGIC);
                // The key and extras first; only SASL data is waited for whole.
                let sasl = matches!(h.opcode, opcode::SASL_AUTH | opcode::SASL_STEP);
                assert!(need == fixed || (sasl && need == HEADER_LEN + body && b.len() >= fixed));
            } else {
                assert_eq!(need, HEADER_LEN);
            }
            fill_incomplete(b, locked, need);
            None
        }
        Parsed::BadMagic => {
            assert!(b.len() >= HEADER_LEN && b[0] != REQUEST_MAGIC);
            None
        }
        Parsed::NeedValue {
            total,
            reply,
            kind: _,
            key,
            value_len,
        } => {
            assert!(!locked);
            let h = Header::read(b);
            let (_, _, body, fixed) = lengths(&h);
            assert!(total > b.len() && b.len() >= fixed);
            assert_eq!(total, HEADER_LEN + body);
            assert_eq!(value_len, total - fixed);
            assert_eq!(key, &b[fixed - h.keylen as usize..fixed]);
            assert!(!key.is_empty() && key.len() <= 250);
            assert_eq!((reply.cmd, reply.quiet), opcode::loud(h.opcode));
            assert!(matches!(
                reply.cmd,
                opcode::SET | opcode::ADD | opcode::REPLACE | opcode::APPEND | opcode::PREPEND
            ));
            fill_value(b, total, value_len);
            None
        }
        Parsed::Done {
            consumed,
            swallow,
            req,
        } => {
            check_done(b, locked, consumed, swallow, &req);
            prefix_stable(b, locked, consumed);
            render_round_trip(b, &req);
            let close = matches!(req.cmd, Cmd::Error { close: true, .. } | Cmd::Quit);
            let next = consumed.checked_add(swallow)?;
            (!close && next <= b.len()).then_some(next)
        }
    }
}

fn check_done(
    b: &[u8],
    locked: bool,
    consumed: usize,
    swallow: usize,
    req: &corecached::protocol::binary::Request<'_>,
) {
    let h = Header::read(b);
    let (ext, keylen, body, fixed) = lengths(&h);
    let whole = HEADER_LEN + body;
    assert_eq!(h.magic, REQUEST_MAGIC);
    assert!(consumed <= b.len());
    assert!(consumed == fixed || consumed == whole, "took {consumed}");
    let r = req.reply;
    assert_eq!(r.opcode, h.opcode);
    assert_eq!(r.opaque, h.opaque);
    assert_eq!((r.cmd, r.quiet), opcode::loud(h.opcode));
    let key = &b[HEADER_LEN + ext..fixed];
    let exempt = matches!(
        h.opcode,
        opcode::SASL_LIST_MECHS | opcode::SASL_AUTH | opcode::SASL_STEP | opcode::VERSION
    );
    if !matches!(req.cmd, Cmd::Error { .. }) {
        assert!(
            !locked || exempt,
            "a locked connection reached {:?}",
            req.cmd
        );
        assert!(ext + keylen <= body && keylen <= 250);
        assert_eq!(swallow, 0);
    }
    match req.cmd {
        Cmd::Error {
            status: st,
            close: true,
        } => {
            assert_eq!((consumed, swallow), (fixed, 0));
            let mismatch = ext + keylen > body;
            match st {
                Status::UnknownCommand => assert!(mismatch),
                Status::AuthError => assert!(locked && !exempt && !mismatch),
                Status::InvalidArguments => assert!(!mismatch && (!locked || exempt)),
                other => panic!("closes with {other:?}"),
            }
        }
        Cmd::Error {
            status: st,
            close: false,
        } => {
            assert_eq!(consumed, fixed);
            match st {
                // memcached reads an unknown command's key and extras, then discards as
                // many bytes as its body length says (checked against 1.6.18).
                Status::UnknownCommand => assert_eq!(swallow, body),
                // A refused SASL request: its data is discarded, and the packet ends there.
                Status::InvalidArguments | Status::OutOfMemory => {
                    assert!(matches!(r.cmd, opcode::SASL_AUTH | opcode::SASL_STEP));
                    assert_eq!(consumed + swallow, whole);
                }
                other => panic!("answers {other:?}"),
            }
        }
        Cmd::Op(op) => check_op(&op, &h, key, &b[..consumed], fixed),
        Cmd::SaslAuth { mech, data } | Cmd::SaslStep { mech, data } => {
            assert_eq!(mech, key);
            assert!(!mech.is_empty() && mech.len() <= 32 && ext == 0);
            assert_eq!(consumed, whole);
            assert_eq!(data, &b[fixed..whole]);
        }
        Cmd::Stat { key: k } => assert_eq!((k, consumed, ext), (key, fixed, 0)),
        Cmd::Flush { delay } => {
            assert!(consumed == fixed && keylen == 0 && body == ext && delay >= 0)
        }
        Cmd::Noop | Cmd::Version | Cmd::Quit | Cmd::SaslList => {
            assert_eq!((consumed, ext, keylen, body), (HEADER_LEN, 0, 0, 0));
        }
    }
}

fn check_op(op: &Op<'_>, h: &Header, key: &[u8], took: &[u8], fixed: usize) {
    let k = op.key().expect("a binary op has a key");
    assert_eq!(k, key);
    assert!(!k.is_empty() && k.len() <= 250);
    match op {
        // memcached reads binary times unsigned: none is ever "already expired".
        Op::Store { exptime, .. } | Op::Touch { exptime, .. } if *exptime < 0 => {
            panic!("a negative exptime")
        }
        Op::Get { touch: Some(t), .. } if *t < 0 => panic!("a negative exptime"),
        Op::Store { value, .. } => {
            assert_eq!(took.len(), HEADER_LEN + h.bodylen as usize);
            assert_eq!(*value, &took[fixed..]);
        }
        Op::Arith { init, .. } => {
            assert_eq!(h.extlen, 20);
            assert_eq!(took.len(), fixed);
            assert!(init.is_none_or(|i| i.exptime >= 0), "a negative exptime");
        }
        _ => assert_eq!(took.len(), fixed),
    }
}

/// The same request parses from its own bytes and with a noop after it; cut short it
/// waits for no more than it took.
fn prefix_stable(b: &[u8], locked: bool, consumed: usize) {
    let want = parse(&b[..consumed], locked);
    assert_eq!(parse(b, locked), want, "bytes after a request changed it");
    let mut more = b[..consumed].to_vec();
    let mut noop = vec![REQUEST_MAGIC, opcode::NOOP];
    noop.resize(HEADER_LEN, 0);
    more.extend_from_slice(&noop);
    assert_eq!(parse(&more, locked), want);
    let fixed = lengths(&Header::read(b)).3;
    for cut in [0, HEADER_LEN - 1, fixed - 1, consumed - 1] {
        if cut >= consumed {
            continue;
        }
        match parse(&b[..cut], locked) {
            Parsed::Incomplete { need } => assert!(need > cut && need <= consumed),
            Parsed::NeedValue { total, .. } => assert_eq!(total, consumed),
            other => panic!("a request of {consumed} cut at {cut}: {other:?}"),
        }
    }
}

/// Given the bytes it asked for, the parser never asks for the same again.
fn fill_incomplete(b: &[u8], locked: bool, need: usize) {
    if need - b.len() > 1 << 17 {
        return;
    }
    let mut full = b.to_vec();
    full.resize(need, 0);
    if let Parsed::Incomplete { need: again } = parse(&full, locked) {
        assert!(again > need, "asked for {need}, then for {again}");
    }
}

/// Once its value has arrived, a store ends where NeedValue said.
fn fill_value(b: &[u8], total: usize, value_len: usize) {
    if total - b.len() > 1 << 17 {
        return;
    }
    let mut full = b.to_vec();
    full.resize(total, b'v');
    match parse(&full, false) {
        Parsed::Done {
            consumed,
            swallow: 0,
            req,
        } => {
            assert_eq!(consumed, total);
            let Cmd::Op(Op::Store { value, .. }) = req.cmd else {
                panic!("a value completed into {:?}", req.cmd);
            };
            assert_eq!(value.len(), value_len);
        }
        other => panic!("a value completed, still {other:?}"),
    }
}

/// A response header reads back field for field (the status sits where a request has its
/// reserved bytes).
fn header_round_trip(b: &[u8]) {
    if b.len() < HEADER_LEN {
        return;
    }
    let h = Header::read(b);
    let mut out = Vec::new();
    let lens = (h.keylen as usize, h.extlen as usize, h.bodylen as usize);
    write_response(
        &mut out,
        h.opcode,
        Status::NonNumeric,
        lens,
        h.opaque,
        h.cas,
    );
    assert_eq!(out.len(), HEADER_LEN);
    let back = Header::read(&out);
    assert_eq!(
        back,
        Header {
            magic: RESPONSE_MAGIC,
            ..h
        }
    );
    assert_eq!(&out[6..8], &(Status::NonNumeric as u16).to_be_bytes());
}

/// The reply to a parsed request: one packet whose body length is what follows its
/// header, with the request's opcode and opaque; a quiet miss writes nothing.
fn render_round_trip(b: &[u8], req: &corecached::protocol::binary::Request<'_>) {
    let r = req.reply;
    let mut out = Vec::new();
    match req.cmd {
        Cmd::Error { status: st, .. } => {
            status(&mut out, r, st);
            assert_eq!(&out[HEADER_LEN..], st.body());
        }
        Cmd::Op(op) => {
            let key = op.key().unwrap();
            let item = Item {
                key,
                flags: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                value: &b[..HEADER_LEN],
                cas: 5,
            };
            outcome(&mut out, Some(&Outcome::Hit(item)), r, key);
            let mut miss = Vec::new();
            outcome(&mut miss, Some(&Outcome::Miss), r, key);
            if r.quiet {
                assert!(miss.is_empty(), "a quiet miss answered");
            } else {
                one_packet(&miss, &r);
            }
        }
        _ => return,
    }
    one_packet(&out, &r);
}

fn one_packet(out: &[u8], r: &corecached::protocol::binary::Reply) {
    let h = Header::read(out);
    assert_eq!(h.magic, RESPONSE_MAGIC);
    assert_eq!((h.opcode, h.opaque), (r.opcode, r.opaque));
    assert_eq!(h.bodylen as usize, out.len() - HEADER_LEN);
    assert!(h.keylen as usize + h.extlen as usize <= h.bodylen as usize);
}
