//! Fuzzes the op and outcome codec (src/protocol/op/codec.rs), the encoding of every
//! cross-shard batch: any bytes decode without a panic and without reading past the input,
//! whatever decodes re-encodes to as many bytes and decodes the same, and ops built from the
//! input round-trip exactly.
#![no_main]

use corecached::protocol::op::{
    Arith, ArithInit, Item, MetaArgs, MetaCmd, OpIter, Outcome, Removed, Stored, decode_op,
    decode_outcome, encode_op, encode_outcome,
};
use corecached::protocol::{Op, StoreKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    decode_any(data);
    if let Some((&pick, rest)) = data.split_first() {
        round_trip(pick, rest);
    }
});

/// Arbitrary bytes as a batch and as a reply.
fn decode_any(data: &[u8]) {
    if let Ok((op, used)) = decode_op(data) {
        assert!(used > 0 && used <= data.len());
        let mut again = Vec::new();
        encode_op(&mut again, op);
        assert_eq!(again.len(), used, "{op:?} re-encodes to another length");
        assert_eq!(decode_op(&again), Ok((op, used)));
        // Bytes after an op do not change it.
        assert_eq!(decode_op(&data[..used]), Ok((op, used)));
    }
    let mut walked = 0;
    for op in OpIter(data).take(256) {
        let mut enc = Vec::new();
        encode_op(&mut enc, op);
        walked += enc.len();
        assert!(
            walked <= data.len(),
            "the ops of a batch are longer than the batch"
        );
    }
    if let Ok(outcome) = decode_outcome(data) {
        let mut again = Vec::new();
        encode_outcome(&mut again, &outcome);
        assert!(again.len() <= data.len());
        assert_eq!(decode_outcome(&again), Ok(outcome));
    }
}

/// Reads little-endian numbers and slices off the front of the input, zeros once it runs out.
struct Take<'a>(&'a [u8]);

impl<'a> Take<'a> {
    fn u64(&mut self) -> u64 {
        let n = self.0.len().min(8);
        let mut b = [0; 8];
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        u64::from_le_bytes(b)
    }

    fn bytes(&mut self) -> &'a [u8] {
        let n = (self.u64() as usize % 300).min(self.0.len());
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        h
    }
}

fn kind(n: u64) -> StoreKind {
    match n % 6 {
        0 => StoreKind::Set,
        1 => StoreKind::Add,
        2 => StoreKind::Replace,
        3 => StoreKind::Append,
        4 => StoreKind::Prepend,
        _ => StoreKind::Cas(n),
    }
}

fn op_of<'a>(pick: u8, t: &mut Take<'a>) -> Op<'a> {
    let (n, key, value) = (t.u64(), t.bytes(), t.bytes());
    match pick % 14 {
        0 => Op::Get {
            key,
            touch: (n & 1 == 1).then_some((n >> 1) as i32),
        },
        1 => Op::Store {
            kind: kind(n),
            key,
            flags: (n >> 8) as u32,
            exptime: (n >> 32) as i32,
            value,
        },
        2 => Op::TooLarge { kind: kind(n), key },
        3 => Op::Delete { key, cas: n >> 1 },
        4 => Op::Arith {
            incr: n & 1 == 1,
            key,
            delta: n,
            init: (n & 2 == 2).then_some(ArithInit {
                value: n.rotate_left(7),
                exptime: (n >> 32) as i32,
            }),
            cas: n.rotate_left(29),
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
            cursor: n.rotate_left(11),
        },
        11 => Op::CacheDump {
            class: n as u32,
            max: (n >> 32) as u32,
            cursor: n.rotate_left(5),
        },
        12 => Op::MemLimit { bytes: n },
        _ => Op::Meta {
            cmd: [
                MetaCmd::Get,
                MetaCmd::Set,
                MetaCmd::Delete,
                MetaCmd::Arith,
                MetaCmd::Debug,
            ][n as usize % 5],
            key,
            args: meta_args(n, t.u64()),
            value,
        },
    }
}

/// Meta arguments from two words of input, every field set from its own bits.
fn meta_args(n: u64, m: u64) -> MetaArgs {
    let opt = |bit: u64, v: i32| (n >> bit & 1 == 1).then_some(v);
    MetaArgs {
        touch: opt(0, m as i32),
        vivify: opt(1, (m >> 8) as i32),
        recache: opt(2, (m >> 16) as i32),
        cas: (n >> 3 & 1 == 1).then_some(m.rotate_left(9)),
        flags: (m >> 32) as u32,
        mode: (n >> 8) as u8,
        delta: m.rotate_left(17),
        initial: m.rotate_left(41),
        stale: n >> 4 & 1 == 1,
        no_bump: n >> 5 & 1 == 1,
        binary: n >> 6 & 1 == 1,
        touch_before_recache: n >> 7 & 1 == 1,
        vivify_after_touch: n >> 16 & 1 == 1,
        too_large: n >> 17 & 1 == 1,
        opaque_error: n >> 18 & 1 == 1,
    }
}

fn outcome_of<'a>(pick: u8, t: &mut Take<'a>) -> Outcome<'a> {
    let (n, key, value) = (t.u64(), t.bytes(), t.bytes());
    let stored = [
        Stored::Stored,
        Stored::NotStored,
        Stored::Exists,
        Stored::NotFound,
        Stored::TooLarge,
        Stored::OutOfMemory,
    ];
    let arith = [
        Arith::NotFound,
        Arith::Exists,
        Arith::NonNumeric,
        Arith::OutOfMemory,
    ];
    match (pick >> 4) % 8 {
        0 => Outcome::Hit(Item {
            key,
            flags: n as u32,
            cas: n.rotate_left(17),
            value,
        }),
        1 => Outcome::Miss,
        2 => Outcome::Stored {
            result: stored[n as usize % stored.len()],
            cas: n >> 3,
        },
        3 => {
            Outcome::Deleted([Removed::Deleted, Removed::NotFound, Removed::Exists][n as usize % 3])
        }
        4 => Outcome::Touched(n & 1 == 1),
        5 if n & 1 == 0 => Outcome::Arith(Arith::Value {
            value: n,
            cas: n.rotate_left(3),
        }),
        5 => Outcome::Arith(arith[n as usize % arith.len()]),
        6 => Outcome::Lines {
            text: value,
            resume: (n & 1 == 1).then_some(n >> 1),
        },
        _ => Outcome::Done,
    }
}

/// Ops and outcomes built from the input come back exactly, one after another in a batch.
fn round_trip(pick: u8, rest: &[u8]) {
    let mut t = Take(rest);
    let ops: Vec<Op<'_>> = (0..4)
        .map(|i| op_of(pick.wrapping_add(i), &mut t))
        .collect();
    let mut batch = Vec::new();
    for &op in &ops {
        encode_op(&mut batch, op);
    }
    assert_eq!(OpIter(&batch).collect::<Vec<_>>(), ops);
    let mut at = 0;
    for &op in &ops {
        let (got, used) = decode_op(&batch[at..]).expect("an encoded op decodes");
        assert_eq!(got, op);
        at += used;
    }
    assert_eq!(at, batch.len());
    let outcome = outcome_of(pick, &mut t);
    let mut out = Vec::new();
    encode_outcome(&mut out, &outcome);
    assert_eq!(decode_outcome(&out), Ok(outcome));
    // Cut short, neither decodes.
    assert!(decode_outcome(&out[..out.len() - 1]).is_err());
    let mut one = Vec::new();
    encode_op(&mut one, ops[0]);
    assert!(decode_op(&one[..one.len() - 1]).is_err());
}
