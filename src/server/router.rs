//! Key -> owning shard, and the messages that carry remote work to the owning shards: one
//! [`Batch`] per connection per destination per read, and one [`Request`] per destination
//! for all the batches a shard's connections queued in one turn of its loop, never one
//! message per key. Ops and outcomes travel in the one encoding of `protocol::op`.

use super::handoff::Direct;
use super::pool;
use crate::protocol::op::{self, Op, OpIter, Outcome};
use crate::record::{self, MutationRef};
use crate::stats::ShardSnapshot;
use crate::storage::{hash_key, shard_of_hash};

pub fn shard_of(key: &[u8], shards: usize) -> usize {
    // One shard owns every key: no hash (the store hashes the key again for its lookup).
    if shards == 1 {
        return 0;
    }
    shard_of_hash(hash_key(key), shards)
}

/// Every op a connection sends to one shard after one read, encoded back to back in one
/// buffer, so a batch costs one allocation however many requests it holds.
#[derive(Debug, Default)]
pub struct Batch {
    arena: Vec<u8>,
    len: usize,
    /// Bytes of encoded outcomes after which the owner stops and hands the rest back in
    /// [`Reply::rest`]; 0 runs every op (a twin's writes, stats). For a whole read handed
    /// off, the rendered bytes the owner holds before it tries the socket.
    pub reply_budget: usize,
    /// Set when the owner writes the answer to the client itself (one op, or a whole
    /// read; `server::handoff`): it then sends no reply.
    pub handoff: Option<Direct>,
}

impl Batch {
    /// Appends `op`, copying its bytes; returns its index in the batch.
    pub fn push(&mut self, op: Op<'_>) -> usize {
        self.ready();
        op::encode_op(&mut self.arena, op);
        self.len += 1;
        self.len - 1
    }

    /// Appends a twin's write as an `Op::Apply`, encoding the record in place.
    pub fn push_apply(&mut self, m: MutationRef<'_>) -> usize {
        self.ready();
        op::encode_apply(&mut self.arena, |out| record::put(out, 0, m));
        self.len += 1;
        self.len - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A batch's buffer comes from the pool when its first op is pushed: empty batches,
    /// one per shard in every connection's plan, hold none.
    fn ready(&mut self) {
        if self.arena.capacity() == 0 {
            self.arena = pool::take_msg();
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The ops in the order they were pushed.
    pub fn ops(&self) -> OpIter<'_> {
        OpIter(&self.arena)
    }

    /// A batch of `len` ops already encoded back to back (what an owner did not run).
    pub fn encoded(arena: &[u8], len: usize) -> Batch {
        let mut buf = pool::take_msg();
        buf.extend_from_slice(arena);
        Batch {
            arena: buf,
            len,
            reply_budget: 0,
            handoff: None,
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        pool::give_msg(std::mem::take(&mut self.arena));
    }
}

/// Batches on their way to the owning shard: every batch the sender's connections queued
/// for it since its last flush, so one message (and at most one wake-up of the owner)
/// carries them all. The owner answers with one `Vec<Reply>`, in the same order.
pub struct Request {
    /// The sender's id in the reply mesh.
    pub reply_to: usize,
    /// Which connection (or twin stream) on the sender waits for each batch.
    pub batches: Vec<(u64, Batch)>,
}

/// The owner's answers: the encoded outcome of op i is `out[ends[i-1]..ends[i]]`.
pub struct Reply {
    pub conn: u64,
    /// The replying shard's id (request-mesh id, the one keys hash to).
    pub shard: usize,
    pub out: Vec<u8>,
    pub ends: Vec<u32>,
    /// One per `Op::Stats` in the batch, in order.
    pub snapshots: Vec<ShardSnapshot>,
    /// The ops the owner did not run because the reply reached the batch's budget, in
    /// order; the sender sends them again once it has written out what came back.
    pub rest: Batch,
}

impl Reply {
    pub fn new(conn: u64, shard: usize, ops: usize) -> Self {
        Reply {
            conn,
            shard,
            out: pool::take_msg(),
            ends: pool::take_ends(ops),
            snapshots: Vec::new(),
            rest: Batch::default(),
        }
    }

    /// Ops answered so far.
    pub fn ran(&self) -> usize {
        self.ends.len()
    }

    /// Stops here if the reply has reached `budget` (0: never) and ops remain: they go
    /// to `rest`, in order. True when stopped.
    pub fn stop_at_budget(&mut self, budget: usize, remaining: OpIter<'_>, total: usize) -> bool {
        if budget == 0 || self.out.len() < budget || remaining.0.is_empty() {
            return false;
        }
        self.rest = Batch::encoded(remaining.0, total - self.ran());
        true
    }

    /// Records the outcome of the next op.
    pub fn push(&mut self, outcome: &Outcome<'_>) {
        op::encode_outcome(&mut self.out, outcome);
        self.ends.push(self.out.len() as u32);
    }

    /// The outcome of op `i`; `None` if the owner never answered it.
    pub fn outcome(&self, i: usize) -> Option<Outcome<'_>> {
        let start = if i == 0 {
            0
        } else {
            *self.ends.get(i - 1)? as usize
        };
        let end = *self.ends.get(i)? as usize;
        op::decode_outcome(&self.out[start..end]).ok()
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        pool::give_msg(std::mem::take(&mut self.out));
        pool::give_ends(std::mem::take(&mut self.ends));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::op::{Item, StoreKind, Stored};

    #[test]
    fn batch_round_trip() {
        let mut b = Batch::default();
        assert!(b.is_empty());
        b.push(Op::Get {
            key: b"k1",
            touch: None,
        });
        b.push(Op::Store {
            kind: StoreKind::Set,
            key: b"k2",
            flags: 3,
            exptime: 0,
            value: b"v\r\n",
        });
        let ops: Vec<Op<'_>> = b.ops().collect();
        assert_eq!(b.len(), 2);
        assert_eq!(
            ops[0],
            Op::Get {
                key: b"k1",
                touch: None
            }
        );
        match ops[1] {
            Op::Store {
                key, value, flags, ..
            } => assert_eq!((key, value, flags), (&b"k2"[..], &b"v\r\n"[..], 3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn applies_carry_their_record() {
        let m = MutationRef::Delete {
            key: b"gone",
            version: 77,
        };
        let mut b = Batch::default();
        b.push_apply(m);
        let Some(Op::Apply(rec)) = b.ops().next() else {
            panic!("not an apply")
        };
        let (_, back) = record::decode_record(rec).expect("a record");
        assert_eq!(back, m);
    }

    #[test]
    fn reply_outcomes_by_index() {
        let mut r = Reply::new(1, 0, 3);
        r.push(&Outcome::Miss);
        r.push(&Outcome::Hit(Item {
            key: b"k",
            flags: 1,
            value: b"v",
            cas: 2,
        }));
        r.push(&Outcome::Stored {
            result: Stored::Exists,
            cas: 0,
        });
        assert_eq!(r.outcome(0), Some(Outcome::Miss));
        assert!(matches!(r.outcome(1), Some(Outcome::Hit(it)) if it.value == b"v"));
        assert_eq!(
            r.outcome(2),
            Some(Outcome::Stored {
                result: Stored::Exists,
                cas: 0
            })
        );
        assert_eq!(r.outcome(3), None);
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
