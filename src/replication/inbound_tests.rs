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

const LIMITS: Limits = Limits {
    max_value: 1 << 20,
    now_ms: 1_800_000_000_000,
};

/// What a read decodes to, without refusals.
fn read(used: usize, last_seq: Option<u64>) -> Read {
    Read {
        used,
        last_seq,
        versions_refused: 0,
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
    assert_eq!(
        decode_run(&buf, &mut run, &LIMITS).unwrap(),
        read(whole, Some(6))
    );
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
    assert_eq!(
        decode_run(&buf, &mut run, &LIMITS).unwrap(),
        read(buf.len(), None)
    );
    assert_eq!(run.len(), 1);
}

#[test]
fn the_end_of_a_copy_completes_the_seq_before_the_log() {
    let buf = frames(&[Frame::SnapEnd { next_seq: 9 }]);
    let mut run = Vec::new();
    assert_eq!(
        decode_run(&buf, &mut run, &LIMITS).unwrap(),
        read(buf.len(), Some(8))
    );
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
        decode_run(&buf[..buf.len() - 1], &mut run, &LIMITS).unwrap(),
        read(0, None)
    );
    assert!(run.is_empty());
}

#[test]
fn a_handshake_frame_or_garbage_mid_stream_ends_it() {
    let mut run = Vec::new();
    let ack = frames(&[Frame::Ack { seq: 1 }]);
    assert!(
        decode_run(&ack, &mut run, &LIMITS)
            .unwrap_err()
            .contains("unexpected frame")
    );
    assert!(decode_run(b"GET / HTTP/1.1\r\n", &mut run, &LIMITS).is_err());
}

#[test]
fn recycling_keeps_the_allocation() {
    let buf = frames(&[Frame::Data {
        seq: 1,
        m: set(b"a"),
    }]);
    let mut run = Vec::with_capacity(64);
    decode_run(&buf, &mut run, &LIMITS).unwrap();
    let cap = run.capacity();
    let empty: Vec<Incoming<'static>> = recycle(run);
    assert!(empty.is_empty());
    assert_eq!(empty.capacity(), cap);
}

#[test]
fn bad_writes_end_the_stream_before_anything_is_applied() {
    let good = Frame::Data {
        seq: 1,
        m: set(b"a"),
    };
    let bad = [
        set(&[b'k'; 251]),
        set(b""),
        Mutation::Delete {
            key: vec![b'k'; 300],
            version: 1,
        },
        Mutation::Set {
            key: b"big".to_vec(),
            value: vec![0; LIMITS.max_value + 1],
            flags: 0,
            exptime: 0,
            version: 1,
        },
    ];
    for m in bad {
        let buf = frames(&[good.clone(), Frame::Data { seq: 2, m }]);
        let err = decode_run(&buf, &mut Vec::new(), &LIMITS).unwrap_err();
        assert!(err.starts_with("refused a bad frame"), "{err}");
    }
    let end = frames(&[Frame::SnapEnd { next_seq: 0 }]);
    assert!(decode_run(&end, &mut Vec::new(), &LIMITS).is_err());
}

#[test]
fn writes_from_the_future_are_dropped_alone_and_counted() {
    let ahead = (LIMITS.now_ms + 120_000) << 20;
    let buf = frames(&[
        Frame::Data {
            seq: 1,
            m: Mutation::Flush {
                before_version: u64::MAX - 1,
                at_unix_secs: 0,
            },
        },
        Frame::Data {
            seq: 2,
            m: Mutation::Delete {
                key: b"a".to_vec(),
                version: ahead,
            },
        },
        Frame::Data {
            seq: 3,
            m: set(b"b"),
        },
    ]);
    let mut run = Vec::new();
    let got = decode_run(&buf, &mut run, &LIMITS).unwrap();
    assert_eq!(got.versions_refused, 2);
    assert_eq!(got.last_seq, Some(3));
    assert_eq!(run.len(), 1);
    assert_eq!(run[0].m.key(), Some(&b"b"[..]));
}
