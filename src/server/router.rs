//! Key -> owning shard, and the messages that carry a connection's remote work to the
//! owning shards: one [`Batch`] per destination shard per read, never one message per key.

use crate::record::{self as mutation_log, MutationRef};
use crate::stats::ShardSnapshot;
use crate::storage::{hash_key, shard_of_hash};
use std::ops::Range;

pub fn shard_of(key: &[u8], shards: usize) -> usize {
    shard_of_hash(hash_key(key), shards)
}

impl<'a> OpRef<'a> {
    /// The key this op addresses; `None` for ops every shard runs (flush, stats, ...).
    pub fn key(&self) -> Option<&'a [u8]> {
        match *self {
            OpRef::Get { key, .. }
            | OpRef::Store { key, .. }
            | OpRef::TooLarge { key, .. }
            | OpRef::Delete { key, .. }
            | OpRef::Arith { key, .. }
            | OpRef::Touch { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// What a remote shard should do for one request (keys and values live in the batch arena).
#[derive(Debug, Clone)]
pub enum Op {
    Get {
        key: Range<u32>,
        cas: bool,
        touch: Option<i32>,
    },
    Store {
        kind: crate::protocol::StoreKind,
        key: Range<u32>,
        flags: u32,
        exptime: i32,
        value: Range<u32>,
        noreply: bool,
    },
    TooLarge {
        kind: crate::protocol::StoreKind,
        key: Range<u32>,
    },
    Delete {
        key: Range<u32>,
        noreply: bool,
    },
    Arith {
        incr: bool,
        key: Range<u32>,
        delta: u64,
        noreply: bool,
    },
    Touch {
        key: Range<u32>,
        exptime: i32,
        noreply: bool,
    },
    Flush {
        delay: i32,
    },
    Stats,
    ResetStats,
    /// A write from the twin, applied if its version is newer: its record (see
    /// `mutation_log`) in the arena.
    Apply(Range<u32>),
    /// `lru_crawler metadump` lines for items of the classes in the mask (bit i = class i+1).
    Dump {
        classes: u64,
    },
}

/// The same operation with its bytes borrowed, the form both local and remote execution use.
#[derive(Debug, Clone, Copy)]
pub enum OpRef<'a> {
    Get {
        key: &'a [u8],
        cas: bool,
        touch: Option<i32>,
    },
    Store {
        kind: crate::protocol::StoreKind,
        key: &'a [u8],
        flags: u32,
        exptime: i32,
        value: &'a [u8],
        noreply: bool,
    },
    TooLarge {
        kind: crate::protocol::StoreKind,
        key: &'a [u8],
    },
    Delete {
        key: &'a [u8],
        noreply: bool,
    },
    Arith {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        noreply: bool,
    },
    Touch {
        key: &'a [u8],
        exptime: i32,
        noreply: bool,
    },
    Flush {
        delay: i32,
    },
    Stats,
    ResetStats,
    Apply(MutationRef<'a>),
    Dump {
        classes: u64,
    },
}

/// Every op a connection sends to one shard after one read, keys and values packed into one
/// buffer so a batch costs two allocations however many requests it holds.
#[derive(Debug, Default)]
pub struct Batch {
    pub arena: Vec<u8>,
    pub ops: Vec<Op>,
}

impl Batch {
    fn put(&mut self, bytes: &[u8]) -> Range<u32> {
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(bytes);
        start..self.arena.len() as u32
    }

    /// Appends `op`, copying its bytes; returns its index in the batch.
    pub fn push(&mut self, op: OpRef<'_>) -> usize {
        let op = match op {
            OpRef::Get { key, cas, touch } => Op::Get {
                key: self.put(key),
                cas,
                touch,
            },
            OpRef::Store {
                kind,
                key,
                flags,
                exptime,
                value,
                noreply,
            } => {
                let key = self.put(key);
                let value = self.put(value);
                Op::Store {
                    kind,
                    key,
                    flags,
                    exptime,
                    value,
                    noreply,
                }
            }
            OpRef::TooLarge { kind, key } => Op::TooLarge {
                kind,
                key: self.put(key),
            },
            OpRef::Delete { key, noreply } => Op::Delete {
                key: self.put(key),
                noreply,
            },
            OpRef::Arith {
                incr,
                key,
                delta,
                noreply,
            } => Op::Arith {
                incr,
                key: self.put(key),
                delta,
                noreply,
            },
            OpRef::Touch {
                key,
                exptime,
                noreply,
            } => Op::Touch {
                key: self.put(key),
                exptime,
                noreply,
            },
            OpRef::Flush { delay } => Op::Flush { delay },
            OpRef::Stats => Op::Stats,
            OpRef::ResetStats => Op::ResetStats,
            OpRef::Apply(m) => {
                let start = self.arena.len() as u32;
                mutation_log::put(&mut self.arena, 0, m);
                Op::Apply(start..self.arena.len() as u32)
            }
            OpRef::Dump { classes } => Op::Dump { classes },
        };
        self.ops.push(op);
        self.ops.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn op(&self, i: usize) -> OpRef<'_> {
        let b = |r: &Range<u32>| &self.arena[r.start as usize..r.end as usize];
        match &self.ops[i] {
            Op::Get { key, cas, touch } => OpRef::Get {
                key: b(key),
                cas: *cas,
                touch: *touch,
            },
            Op::Store {
                kind,
                key,
                flags,
                exptime,
                value,
                noreply,
            } => OpRef::Store {
                kind: *kind,
                key: b(key),
                flags: *flags,
                exptime: *exptime,
                value: b(value),
                noreply: *noreply,
            },
            Op::TooLarge { kind, key } => OpRef::TooLarge {
                kind: *kind,
                key: b(key),
            },
            Op::Delete { key, noreply } => OpRef::Delete {
                key: b(key),
                noreply: *noreply,
            },
            Op::Arith {
                incr,
                key,
                delta,
                noreply,
            } => OpRef::Arith {
                incr: *incr,
                key: b(key),
                delta: *delta,
                noreply: *noreply,
            },
            Op::Touch {
                key,
                exptime,
                noreply,
            } => OpRef::Touch {
                key: b(key),
                exptime: *exptime,
                noreply: *noreply,
            },
            Op::Flush { delay } => OpRef::Flush { delay: *delay },
            Op::Stats => OpRef::Stats,
            Op::ResetStats => OpRef::ResetStats,
            Op::Apply(rec) => match mutation_log::decode_record(b(rec)) {
                Ok((_, m)) => OpRef::Apply(m),
                Err(e) => unreachable!("a record this batch encoded: {e}"),
            },
            Op::Dump { classes } => OpRef::Dump { classes: *classes },
        }
    }
}

/// A batch on its way to the owning shard.
pub struct Request {
    /// The sender's id in the reply mesh.
    pub reply_to: usize,
    /// Which connection on the sender is waiting.
    pub conn: u64,
    pub batch: Batch,
}

/// The owner's answers: response bytes for op i are `out[ends[i-1]..ends[i]]`.
pub struct Reply {
    pub conn: u64,
    /// The replying shard's id (request-mesh id, the one keys hash to).
    pub shard: usize,
    pub out: Vec<u8>,
    pub ends: Vec<u32>,
    /// One per `Op::Stats` in the batch, in order.
    pub snapshots: Vec<ShardSnapshot>,
}

impl Reply {
    pub fn part(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.out[start..self.ends[i] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip() {
        let mut b = Batch::default();
        b.push(OpRef::Get {
            key: b"k1",
            cas: true,
            touch: None,
        });
        b.push(OpRef::Store {
            kind: crate::protocol::StoreKind::Set,
            key: b"k2",
            flags: 3,
            exptime: 0,
            value: b"v\r\n",
            noreply: false,
        });
        assert!(matches!(
            b.op(0),
            OpRef::Get {
                key: b"k1",
                cas: true,
                ..
            }
        ));
        match b.op(1) {
            OpRef::Store {
                key, value, flags, ..
            } => assert_eq!((key, value, flags), (&b"k2"[..], &b"v\r\n"[..], 3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn routing_spreads_keys() {
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[shard_of(format!("key:{i}").as_bytes(), 4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        assert_eq!(shard_of(b"anything", 1), 0);
    }
}
