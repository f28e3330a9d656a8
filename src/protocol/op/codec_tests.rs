//! Round trips of the op and outcome codec, and truncated input refused without a panic.

use super::*;
use crate::protocol::op::strategies::kind;
use proptest::prelude::*;

/// An op over borrowed `key`/`value`, picked by `pick`.
fn op_of<'a>(pick: u8, k: StoreKind, key: &'a [u8], value: &'a [u8], n: u64) -> Op<'a> {
    match pick % 12 {
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
        3 => Op::Delete { key },
        4 => Op::Arith {
            incr: n % 2 == 1,
            key,
            delta: n,
        },
        5 => Op::Touch {
            key,
            exptime: n as i32,
        },
        6 => Op::Flush { delay: n as i32 },
        7 => Op::Stats,
        8 => Op::ResetStats,
        9 => Op::Apply(value),
        10 => Op::Dump { classes: n },
        _ => Op::MemLimit { bytes: n },
    }
}

fn outcome_of<'a>(pick: u8, key: &'a [u8], value: &'a [u8], n: u64) -> Outcome<'a> {
    match pick % 8 {
        0 => Outcome::Hit(Item {
            key,
            flags: n as u32,
            value,
            cas: n,
        }),
        1 => Outcome::Miss,
        2 => Outcome::Stored(
            [
                Stored::Stored,
                Stored::NotStored,
                Stored::Exists,
                Stored::NotFound,
                Stored::TooLarge,
                Stored::OutOfMemory,
            ][n as usize % 6],
        ),
        3 => Outcome::Deleted(n.is_multiple_of(2)),
        4 => Outcome::Touched(n % 2 == 1),
        5 => Outcome::Arith(
            [
                Arith::Value(n),
                Arith::NotFound,
                Arith::NonNumeric,
                Arith::OutOfMemory,
            ][n as usize % 4],
        ),
        6 => Outcome::Lines(value),
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
