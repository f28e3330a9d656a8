//! Round trips of the op and outcome codec, and truncated input refused without a panic.

use super::*;
use crate::protocol::op::strategies::all_kinds as kind;
use crate::protocol::op::{
    MetaArgs, MetaCmd, MetaDebug, MetaError, MetaHit, MetaOutcome, MetaStatus, MetaTimes,
};
use proptest::prelude::*;

/// An op over borrowed `key`/`value`, picked by `pick`.
fn op_of<'a>(pick: u8, k: StoreKind, key: &'a [u8], value: &'a [u8], n: u64) -> Op<'a> {
    match pick % 15 {
        0 => Op::Get {
            key,
            touch: n.is_multiple_of(2).then_some(n as i32),
        },
        1 => Op::Store {
            kind: k,
            key,
            flags: n as u32,
            exptime: -(n as i32),
            value,
        },
        2 => Op::TooLarge { kind: k, key },
        3 => Op::Delete { key, cas: n },
        4 => Op::Arith {
            incr: n % 2 == 1,
            key,
            delta: n,
            init: n.is_multiple_of(3).then_some(ArithInit {
                value: n >> 3,
                exptime: n as i32,
            }),
            cas: n >> 2,
        },
        5 => Op::Touch {
            key,
            exptime: n as i32,
        },
        6 => Op::Flush { delay: n as i32 },
        7 => Op::Stats,
        8 => Op::ResetStats,
        9 => Op::Apply(value),
        10 => Op::Dump {
            classes: n,
            cursor: !n,
        },
        11 => Op::CacheDump {
            class: n as u32,
            max: (n >> 32) as u32,
            cursor: n.rotate_left(7),
        },
        12 => Op::MemLimit { bytes: n },
        13 => Op::Crawl {
            classes: n,
            tocrawl: (n >> 7) as u32,
        },
        _ => Op::Meta {
            cmd: [
                MetaCmd::Get,
                MetaCmd::Set,
                MetaCmd::Delete,
                MetaCmd::Arith,
                MetaCmd::Debug,
            ][n as usize % 5],
            key,
            args: meta_args(n),
            value,
        },
    }
}

/// Meta arguments with every field driven by the bits of `n`.
fn meta_args(n: u64) -> MetaArgs {
    let bit = |i: u32| n & (1 << i) != 0;
    MetaArgs {
        touch: bit(0).then_some(n as i32),
        vivify: bit(1).then_some(-(n as i32)),
        recache: bit(2).then_some((n >> 8) as i32),
        cas: bit(3).then_some(n.rotate_left(7)),
        flags: (n >> 16) as u32,
        mode: (n >> 24) as u8,
        delta: n ^ 0x55,
        initial: n.wrapping_mul(3),
        stale: bit(4),
        no_bump: bit(5),
        binary: bit(6),
        touch_before_recache: bit(7),
        vivify_after_touch: bit(8),
        too_large: bit(9),
        opaque_error: bit(10),
    }
}

fn meta_outcome_of<'a>(key: &'a [u8], value: &'a [u8], n: u64) -> MetaOutcome<'a> {
    let bit = |i: u32| n & (1 << i) != 0;
    let times = MetaTimes {
        now: n as u32,
        exp: (n >> 8) as u32,
        exp_touch: (n >> 16) as u32,
        exp_vivify: (n >> 24) as u32,
        created: bit(3),
    };
    match (n >> 40) % 6 {
        0 => MetaOutcome::Hit(MetaHit {
            item: Item {
                key,
                flags: n as u32,
                value,
                cas: n,
            },
            times,
            idle: (n >> 4) as u32,
            fetched: bit(4),
            token_sent: bit(5),
            stale: bit(6),
            won: bit(7),
            binary: bit(8),
        }),
        1 => MetaOutcome::Miss,
        2 => MetaOutcome::Status {
            status: [
                MetaStatus::Stored,
                MetaStatus::NotStored,
                MetaStatus::Exists,
                MetaStatus::NotFound,
            ][n as usize % 4],
            cas: n,
        },
        3 => MetaOutcome::Counter {
            value: n,
            cas: !n,
            times,
        },
        4 => MetaOutcome::Error(
            [
                MetaError::NonNumeric,
                MetaError::TooLarge,
                MetaError::OutOfMemory,
                MetaError::VivifyOutOfMemory,
            ][n as usize % 4],
        ),
        _ => MetaOutcome::Debug(MetaDebug {
            key,
            binary: bit(1),
            exp: n as i32,
            idle: (n >> 3) as u32,
            cas: n,
            fetched: bit(2),
            class: (n >> 5) as u32,
            size: (n >> 6) as u32,
        }),
    }
}

fn outcome_of<'a>(pick: u8, key: &'a [u8], value: &'a [u8], n: u64) -> Outcome<'a> {
    match pick % 9 {
        0 => Outcome::Hit(Item {
            key,
            flags: n as u32,
            value,
            cas: n,
        }),
        1 => Outcome::Miss,
        2 => Outcome::Stored {
            result: [
                Stored::Stored,
                Stored::NotStored,
                Stored::Exists,
                Stored::NotFound,
                Stored::TooLarge,
                Stored::OutOfMemory,
            ][n as usize % 6],
            cas: n >> 1,
        },
        3 => {
            Outcome::Deleted([Removed::Deleted, Removed::NotFound, Removed::Exists][n as usize % 3])
        }
        4 => Outcome::Touched(n % 2 == 1),
        5 => Outcome::Arith(
            [
                Arith::Value { value: n, cas: !n },
                Arith::NotFound,
                Arith::NonNumeric,
                Arith::OutOfMemory,
                Arith::Exists,
            ][n as usize % 5],
        ),
        6 => Outcome::Lines {
            text: value,
            resume: n.is_multiple_of(2).then_some(n),
        },
        7 => Outcome::Meta(meta_outcome_of(key, value, n)),
        _ => Outcome::Done,
    }
}

proptest! {
    /// A run of ops decodes back to the same ops, each taking exactly its own bytes.
    #[test]
    fn ops_round_trip(
        ops in proptest::collection::vec(
            (any::<u8>(), kind(), proptest::collection::vec(any::<u8>(), 0..40),
             proptest::collection::vec(any::<u8>(), 0..300), any::<u64>()),
            0..20),
    ) {
        let ops: Vec<Op<'_>> =
            ops.iter().map(|(p, k, key, v, n)| op_of(*p, *k, key, v, *n)).collect();
        let mut buf = Vec::new();
        for op in &ops {
            encode_op(&mut buf, *op);
        }
        let back: Vec<Op<'_>> = OpIter(&buf).collect();
        prop_assert_eq!(back, ops);
    }

    /// Every outcome decodes back to itself.
    #[test]
    fn outcomes_round_trip(
        pick in any::<u8>(), key in proptest::collection::vec(any::<u8>(), 0..40),
        value in proptest::collection::vec(any::<u8>(), 0..300), n in any::<u64>(),
    ) {
        let o = outcome_of(pick, &key, &value, n);
        let mut buf = Vec::new();
        encode_outcome(&mut buf, &o);
        prop_assert_eq!(decode_outcome(&buf), Ok(o));
    }

    /// Any proper prefix of an encoding is refused, never misread or panicked on.
    #[test]
    fn truncation_is_an_error(
        pick in any::<u8>(), k in kind(), key in proptest::collection::vec(any::<u8>(), 0..10),
        value in proptest::collection::vec(any::<u8>(), 0..10), n in any::<u64>(),
    ) {
        let mut buf = Vec::new();
        encode_op(&mut buf, op_of(pick, k, &key, &value, n));
        for cut in 0..buf.len() {
            prop_assert!(decode_op(&buf[..cut]).is_err());
        }
        let mut buf = Vec::new();
        encode_outcome(&mut buf, &outcome_of(pick, &key, &value, n));
        for cut in 0..buf.len() {
            prop_assert!(decode_outcome(&buf[..cut]).is_err());
        }
    }
}

#[test]
fn unknown_tags_are_errors() {
    assert_eq!(decode_op(&[200]), Err("unknown op"));
    assert_eq!(decode_outcome(&[200]), Err("unknown outcome"));
    assert_eq!(OpIter(&[200, 1, 2]).count(), 0);
}

#[test]
fn an_apply_written_in_place_reads_as_one() {
    let mut buf = Vec::new();
    encode_apply(&mut buf, |out| out.extend_from_slice(b"record"));
    encode_op(&mut buf, Op::Stats);
    let ops: Vec<Op<'_>> = OpIter(&buf).collect();
    assert_eq!(ops, vec![Op::Apply(b"record"), Op::Stats]);
}
