//! Response packets byte for byte: header layout, error bodies, quiet silence, getk keys.

use super::*;
use crate::protocol::binary::header::HEADER_LEN;

const R: Reply = Reply {
    opcode: GET,
    cmd: GET,
    opaque: 0x0403_0201,
    quiet: false,
};

#[test]
fn an_error_carries_memcacheds_text() {
    let mut out = Vec::new();
    status(&mut out, R, Status::KeyNotFound);
    assert_eq!(&out[..8], &[0x81, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(&out[8..12], &9u32.to_be_bytes());
    assert_eq!(&out[12..16], &0x0403_0201u32.to_ne_bytes());
    assert_eq!(&out[HEADER_LEN..], b"Not found");
}

#[test]
fn a_getk_hit_has_flags_key_value_and_cas() {
    let mut out = Vec::new();
    let r = Reply {
        opcode: GETKQ,
        cmd: GETK,
        quiet: true,
        ..R
    };
    let it = Item {
        key: b"k",
        flags: 7,
        value: b"vv",
        cas: 99,
    };
    outcome(&mut out, Some(&Outcome::Hit(it)), r, b"k");
    assert_eq!(&out[..6], &[0x81, GETKQ, 0, 1, 4, 0]);
    assert_eq!(&out[8..12], &7u32.to_be_bytes());
    assert_eq!(&out[16..24], &99u64.to_be_bytes());
    assert_eq!(&out[24..], &[0, 0, 0, 7, b'k', b'v', b'v']);
}

#[test]
fn quiet_requests_are_silent_on_success_but_not_on_error() {
    let q = Reply {
        quiet: true,
        cmd: SET,
        opcode: SETQ,
        ..R
    };
    let mut out = Vec::new();
    let ok = Outcome::Stored {
        result: Stored::Stored,
        cas: 5,
    };
    outcome(&mut out, Some(&ok), q, b"k");
    outcome(
        &mut out,
        Some(&Outcome::Miss),
        Reply { cmd: GET, ..q },
        b"k",
    );
    assert!(out.is_empty());
    let exists = Outcome::Stored {
        result: Stored::Exists,
        cas: 0,
    };
    outcome(&mut out, Some(&exists), q, b"k");
    assert_eq!(&out[24..], b"Data exists for key.");
}

#[test]
fn refused_add_and_replace_use_memcacheds_statuses() {
    let not = Outcome::Stored {
        result: Stored::NotStored,
        cas: 0,
    };
    for (cmd, st) in [(ADD, 2u8), (REPLACE, 1), (APPEND, 5)] {
        let mut out = Vec::new();
        outcome(
            &mut out,
            Some(&not),
            Reply {
                cmd,
                opcode: cmd,
                ..R
            },
            b"k",
        );
        assert_eq!(out[7], st, "{cmd}");
    }
}

#[test]
fn a_getk_miss_sends_the_key() {
    let mut out = Vec::new();
    let r = Reply {
        cmd: GETK,
        opcode: GETK,
        ..R
    };
    outcome(&mut out, Some(&Outcome::Miss), r, b"abc");
    assert_eq!(&out[2..4], &3u16.to_be_bytes());
    assert_eq!(out[7], 1);
    assert_eq!(&out[24..], b"abc");
}

#[test]
fn incr_answers_the_value_big_endian_with_the_new_cas() {
    let mut out = Vec::new();
    let a = Outcome::Arith(Arith::Value { value: 258, cas: 3 });
    outcome(
        &mut out,
        Some(&a),
        Reply {
            cmd: INCREMENT,
            opcode: INCREMENT,
            ..R
        },
        b"k",
    );
    assert_eq!(&out[16..24], &3u64.to_be_bytes());
    assert_eq!(&out[24..], &258u64.to_be_bytes());
}
