//! The reply plan of one connection's read: local answers go straight out until the first
//! request that another shard owns; from then on every answer takes its place in a plan
//! (local bytes kept aside, remote ones as "op i of shard s's batch"), and the plan is
//! assembled in request order once the owners have replied. Pure: no I/O, no store.

use crate::protocol::op::{Op, Outcome};
use crate::server::router::{Batch, Reply};
use std::ops::Range;

/// Where one piece of the response comes from, once remote shards are involved.
#[derive(Debug, PartialEq, Eq)]
enum Seg<R> {
    /// Bytes in `side`, produced locally after the first remote op of the read.
    Local(Range<usize>),
    /// Op `idx` of the batch sent to `shard`, to be rendered as `how` says.
    Remote { shard: usize, idx: usize, how: R },
}

/// One read's answers in the making; `R` is the front end's per-request render context.
pub struct Plan<R> {
    /// Bytes ready to write, in order.
    pub out: Vec<u8>,
    /// Local responses that must wait behind remote ones.
    side: Vec<u8>,
    segs: Vec<Seg<R>>,
    batches: Vec<Batch>,
    remote_ops: usize,
}

impl<R: Copy> Plan<R> {
    pub fn new(shards: usize, capacity: usize) -> Self {
        Plan {
            out: Vec::with_capacity(capacity),
            side: Vec::new(),
            segs: Vec::new(),
            batches: (0..shards).map(|_| Batch::default()).collect(),
            remote_ops: 0,
        }
    }

    /// Writes a local answer with `f`: straight out, unless remote answers must come first.
    pub fn local(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        if self.segs.is_empty() {
            f(&mut self.out);
        } else {
            let start = self.side.len();
            f(&mut self.side);
            self.segs.push(Seg::Local(start..self.side.len()));
        }
    }

    /// Queues `op` for `shard`; its answer will be rendered as `how` says.
    pub fn remote(&mut self, shard: usize, op: Op<'_>, how: R) {
        let idx = self.batches[shard].push(op);
        self.remote_ops += 1;
        self.segs.push(Seg::Remote { shard, idx, how });
    }

    /// True while answers wait on other shards.
    pub fn waiting(&self) -> bool {
        !self.segs.is_empty()
    }

    /// The batches to send, one per shard (empty ones are not sent), and how many ops they
    /// hold in all; the batches are left empty for the next read.
    pub fn outgoing(&mut self) -> (&mut [Batch], usize) {
        (&mut self.batches, std::mem::take(&mut self.remote_ops))
    }

    /// Appends every pending answer to `out` in request order. `replies[s]` is shard s's
    /// reply, `None` when it never came; `render` writes one remote outcome.
    pub fn assemble(
        &mut self,
        replies: &[Option<Reply>],
        mut render: impl FnMut(&mut Vec<u8>, Option<&Outcome<'_>>, R),
    ) {
        for seg in self.segs.drain(..) {
            match seg {
                Seg::Local(r) => self.out.extend_from_slice(&self.side[r]),
                Seg::Remote { shard, idx, how } => {
                    let outcome = replies[shard].as_ref().and_then(|r| r.outcome(idx));
                    render(&mut self.out, outcome.as_ref(), how);
                }
            }
        }
        self.side.clear();
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
