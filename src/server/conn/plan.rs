//! The reply plan of one connection's read: local answers go straight out until the first
//! request that another shard owns; from then on every answer takes its place in a plan
//! (local bytes kept aside, remote ones as "op i of shard s's batch"), and the plan is
//! assembled in request order once the owners have replied. An owner answers at most
//! [`REMOTE_BUDGET`] bytes per batch and hands back the ops it did not run; the plan then
//! assembles what it can and keeps the rest for the next round, so one read's answers
//! never have to be held whole. Pure: no I/O, no store.

use crate::protocol::op::{Op, Outcome};
use crate::server::pool::{self, Lists};
use crate::server::router::{Batch, Reply};
use std::ops::Range;

/// Bytes of encoded outcomes an owner returns per batch before it stops and hands back the
/// ops it did not run. Far above a 100-key multi-get of small values (one round, as
/// before), and small enough that a round of big values costs a few hundred KB per shard
/// plus one value, not the whole request.
pub const REMOTE_BUDGET: usize = 64 << 10;

/// Bytes of its list of answer pieces an idle connection keeps (see [`Plan::shrink`]): a
/// client that asks one key at a time needs it every request, and so does one that
/// pipelines 16 gets, whose remote answers take two pieces each (the value, then `END`);
/// 1 KB is 32 pieces, small beside the connection's socket buffers.
const IDLE_KEEP: usize = 1024;

thread_local! {
    /// This shard's spare per-shard batch lists (one `Batch` per shard each): a list of
    /// 200-byte batches per shard is too big for every idle connection to keep.
    static BATCH_LISTS: Lists<Batch> = Lists::default();
}

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
    /// One per shard, made on the first remote op (an idle connection holds none).
    batches: Vec<Batch>,
    shards: usize,
    remote_ops: usize,
}

impl<R: Copy> Plan<R> {
    pub fn new(shards: usize, capacity: usize) -> Self {
        Plan {
            out: Vec::with_capacity(capacity),
            side: Vec::new(),
            segs: Vec::new(),
            batches: Vec::new(),
            shards,
            remote_ops: 0,
        }
    }

    /// Writes a local answer with `f`: straight out, unless remote answers must come first.
    pub fn local(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        if self.segs.is_empty() {
            f(&mut self.out);
        } else {
            if self.side.capacity() == 0 {
                self.side = pool::take_msg();
            }
            let start = self.side.len();
            f(&mut self.side);
            self.segs.push(Seg::Local(start..self.side.len()));
        }
    }

    /// Queues `op` for `shard`; its answer will be rendered as `how` says.
    pub fn remote(&mut self, shard: usize, op: Op<'_>, how: R) {
        if self.batches.is_empty() {
            self.batches = BATCH_LISTS.with(Lists::take);
            self.batches.resize_with(self.shards, Batch::default);
        }
        let idx = self.batches[shard].push(op);
        self.remote_ops += 1;
        self.segs.push(Seg::Remote { shard, idx, how });
    }

    /// True while answers wait on other shards.
    pub fn waiting(&self) -> bool {
        !self.segs.is_empty()
    }

    /// Bytes of answers held: ready to write, and waiting behind remote ones.
    pub fn held(&self) -> usize {
        self.out.len() + self.side.len()
    }

    /// Remote ops queued for the next round.
    pub fn queued(&self) -> usize {
        self.remote_ops
    }

    /// Drops buffers grown past `keep` bytes (they are rebuilt on demand), for a connection
    /// that has nothing in flight.
    /// `segs` stays while small (up to [`IDLE_KEEP`] bytes), so a depth-1 client does not
    /// allocate it for each request; `side` and the batch list go back to the shard's
    /// pools, from which the next read that needs them takes them.
    pub fn shrink(&mut self, keep: usize) {
        if self.out.is_empty() && self.out.capacity() > keep {
            self.out = Vec::new();
        }
        if self.side.is_empty() && self.side.capacity() > 0 {
            pool::give_msg(std::mem::take(&mut self.side));
        }
        if self.segs.is_empty() {
            if self.segs.capacity() * std::mem::size_of::<Seg<R>>() > IDLE_KEEP {
                self.segs = Vec::new();
            }
            // A plan that never sent remote ops has no list to give back.
            if self.batches.capacity() > 0 && self.batches.iter().all(Batch::is_empty) {
                let list = std::mem::take(&mut self.batches);
                BATCH_LISTS.with(|l| l.give(list));
            }
        }
    }

    /// The one remote op of a read that needs nothing written before its answer, and
    /// only local bytes after it: its owner and render context. The owner can then write
    /// the whole answer itself (`server::handoff`).
    pub fn lone_remote(&self) -> Option<(usize, R)> {
        if !self.out.is_empty() || self.remote_ops != 1 {
            return None;
        }
        match self.segs.split_first()? {
            (&Seg::Remote { shard, idx: 0, how }, rest)
                if rest.iter().all(|s| matches!(s, Seg::Local(_))) =>
            {
                Some((shard, how))
            }
            _ => None,
        }
    }

    /// Takes the plan of a [`Plan::lone_remote`] read: hands `tail` the bytes that follow
    /// the answer and returns the batch for the owner. The plan is left empty.
    pub fn take_lone(&mut self, shard: usize, tail: impl FnOnce(&[u8])) -> Batch {
        tail(&self.side);
        self.side.clear();
        self.segs.clear();
        self.remote_ops = 0;
        std::mem::take(&mut self.batches[shard])
    }

    /// The one shard every remote op of this read goes to, if there is one: that owner
    /// can then write the read's whole answer itself (`server::handoff`), local answers
    /// included.
    pub fn sole_owner(&self) -> Option<usize> {
        let mut owners = (self.batches.iter().enumerate()).filter(|(_, b)| !b.is_empty());
        match (owners.next(), owners.next()) {
            (Some((owner, _)), None) => Some(owner),
            _ => None,
        }
    }

    /// Takes a [`Plan::sole_owner`] read whole: `piece` gets its answers in request
    /// order, `Ok` with local bytes (those ready to write first included) and `Err` with
    /// a remote op's render context; returns the batch for `owner`. The plan is left
    /// empty.
    pub fn take_whole(&mut self, owner: usize, mut piece: impl FnMut(Result<&[u8], R>)) -> Batch {
        if !self.out.is_empty() {
            piece(Ok(&self.out));
            self.out.clear();
        }
        for seg in self.segs.drain(..) {
            match seg {
                Seg::Local(r) => piece(Ok(&self.side[r])),
                Seg::Remote { how, .. } => piece(Err(how)),
            }
        }
        self.side.clear();
        self.remote_ops = 0;
        std::mem::take(&mut self.batches[owner])
    }

    /// Takes back a read handed off whole whose owner stopped ([`Plan::take_whole`] in
    /// reverse): `pieces` are its answers still to write, in order, `Err` for each op of
    /// `batch` (which `owner` is asked to run again) and `Ok` for local bytes.
    pub fn resume<'a>(
        &mut self,
        owner: usize,
        batch: Batch,
        pieces: impl Iterator<Item = Result<&'a [u8], R>>,
    ) {
        debug_assert!(self.segs.is_empty() && self.out.is_empty());
        if self.batches.is_empty() {
            self.batches = BATCH_LISTS.with(Lists::take);
            self.batches.resize_with(self.shards, Batch::default);
        }
        let mut idx = 0;
        for p in pieces {
            match p {
                Ok(bytes) => self.local(|out| out.extend_from_slice(bytes)),
                Err(how) => {
                    self.segs.push(Seg::Remote {
                        shard: owner,
                        idx,
                        how,
                    });
                    idx += 1;
                }
            }
        }
        debug_assert_eq!(idx, batch.len());
        self.remote_ops = batch.len();
        self.batches[owner] = batch;
    }

    /// The batches to send, one per shard (empty ones are not sent), and how many ops they
    /// hold in all; the batches are left empty for the next round.
    pub fn outgoing(&mut self) -> (&mut [Batch], usize) {
        for b in &mut self.batches {
            b.reply_budget = REMOTE_BUDGET;
        }
        (&mut self.batches, std::mem::take(&mut self.remote_ops))
    }

    /// Appends the pending answers to `out` in request order, up to the first op an owner
    /// handed back unrun. `replies[s]` is shard s's reply, `None` when it never came;
    /// `render` writes one remote outcome. Answers after that point wait aside (rendered),
    /// and the handed-back ops are queued again: `waiting()` says whether a round remains.
    pub fn assemble(
        &mut self,
        replies: &mut [Option<Reply>],
        mut render: impl FnMut(&mut Vec<u8>, Option<&Outcome<'_>>, R),
    ) {
        let mut later: Vec<Seg<R>> = Vec::new();
        let mut aside = Vec::new();
        for seg in self.segs.drain(..) {
            let to = if later.is_empty() {
                &mut self.out
            } else {
                &mut aside
            };
            let start = to.len();
            match seg {
                Seg::Local(r) => to.extend_from_slice(&self.side[r]),
                Seg::Remote { shard, idx, how } => {
                    let reply = replies[shard].as_ref();
                    let ran = reply.map_or(0, |r| r.ran());
                    if idx >= ran && reply.is_some_and(|r| !r.rest.is_empty()) {
                        let idx = idx - ran;
                        later.push(Seg::Remote { shard, idx, how });
                        continue;
                    }
                    let outcome = reply.and_then(|r| r.outcome(idx));
                    render(to, outcome.as_ref(), how);
                }
            }
            if !later.is_empty() && to.len() > start {
                later.push(Seg::Local(start..to.len()));
            }
        }
        // A read answered whole (the usual case) keeps its buffers for the next one.
        if later.is_empty() {
            self.side.clear();
        } else {
            self.side = aside;
            self.segs = later;
        }
        for (s, reply) in replies.iter_mut().enumerate() {
            if let Some(r) = reply.as_mut().filter(|r| !r.rest.is_empty()) {
                self.remote_ops += r.rest.len();
                self.batches[s] = std::mem::take(&mut r.rest);
            }
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
