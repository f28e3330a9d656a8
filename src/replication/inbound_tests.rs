//! decode_run: what one read of a twin stream turns into.

use super::*;
use crate::record::{Mutation, MutationRef};
use crate::storage::hash_key;

fn set(key: &[u8]) -> Mutation {
    Mutation::Set {
        key: key.to_vec(),
        value: b"v\r\n".to_vec(),
        flags: 0,
        exptime: 0,
        version: 7,
    }
}

fn frames(fs: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fs {
        wire::encode(&mut out, f);
    }
    out
}

#[test]
fn a_copy_then_the_log_decodes_in_order_with_keys_hashed() {
    let flush = Mutation::Flush {
        before_version: 3,
        at_unix_secs: 4,
    };
    let mut buf = frames(&[
        Frame::SnapBegin,
        Frame::Data {
            seq: 0,
            m: set(b"a"),
        },
        Frame::Data {
            seq: 0,
            m: set(b"b"),
        },
        Frame::SnapEnd { next_seq: 5 },
        Frame::Data {
            seq: 5,
            m: set(b"c"),
        },
        Frame::Data { seq: 6, m: flush },
    ]);
    let whole = buf.len();
    // Half a frame more: left for the next read.
    let more = frames(&[Frame::Data {
        seq: 7,
        m: set(b"d"),
    }]);
    buf.extend_from_slice(&more[..more.len() / 2]);

    let mut run = Vec::new();
    let (used, last) = decode_run(&buf, &mut run).unwrap();
    assert_eq!((used, last), (whole, Some(6)));
    let keys: Vec<_> = run.iter().map(|r| r.m.key()).collect();
    assert_eq!(keys, [Some(&b"a"[..]), Some(b"b"), Some(b"c"), None]);
    for r in &run {
        assert_eq!(r.hash, r.m.key().map_or(0, hash_key));
    }
    assert!(matches!(run[3].m, MutationRef::Flush { .. }));
}

#[test]
fn copy_items_alone_complete_no_sequence() {
    let buf = frames(&[
        Frame::SnapBegin,
        Frame::Data {
            seq: 0,
            m: set(b"a"),
        },
    ]);
    let mut run = Vec::new();
    assert_eq!(decode_run(&buf, &mut run).unwrap(), (buf.len(), None));
    assert_eq!(run.len(), 1);
}

#[test]
fn the_end_of_a_copy_completes_the_seq_before_the_log() {
    let buf = frames(&[Frame::SnapEnd { next_seq: 9 }]);
    let mut run = Vec::new();
    assert_eq!(decode_run(&buf, &mut run).unwrap(), (buf.len(), Some(8)));
    assert!(run.is_empty());
}

#[test]
fn an_incomplete_frame_uses_nothing() {
    let buf = frames(&[Frame::Data {
        seq: 1,
        m: set(b"a"),
    }]);
    let mut run = Vec::new();
    assert_eq!(
        decode_run(&buf[..buf.len() - 1], &mut run).unwrap(),
        (0, None)
    );
    assert!(run.is_empty());
}

#[test]
fn a_handshake_frame_or_garbage_mid_stream_ends_it() {
    let mut run = Vec::new();
    let ack = frames(&[Frame::Ack { seq: 1 }]);
    assert!(
        decode_run(&ack, &mut run)
            .unwrap_err()
            .contains("unexpected frame")
    );
    assert!(decode_run(b"GET / HTTP/1.1\r\n", &mut run).is_err());
}

#[test]
fn recycling_keeps_the_allocation() {
    let buf = frames(&[Frame::Data {
        seq: 1,
        m: set(b"a"),
    }]);
    let mut run = Vec::with_capacity(64);
    decode_run(&buf, &mut run).unwrap();
    let cap = run.capacity();
    let empty: Vec<Incoming<'static>> = recycle(run);
    assert!(empty.is_empty());
    assert_eq!(empty.capacity(), cap);
}
