//! A connection's side of a handoff (`server::handoff`): when a read's one remaining
//! answer belongs to another shard, that shard gets the socket and writes it; this
//! connection takes the socket back before it writes or closes again. Text, meta and
//! binary requests alike; and a read whose remote requests all belong to one shard,
//! whole, whose rest this connection runs if the owner leaves it one.

use super::binary::{Binary, Remote};
use super::meta::How;
use super::plan::{Plan, REMOTE_BUDGET};
use super::{Conn, Flow, Proto};
use crate::server::handoff::{self, Direct, Handoff, Piece, Render, State, Wording};
use crate::server::router::Batch;
use crate::stats::ConnCounters;
use std::os::fd::RawFd;
use std::sync::Arc;

/// A handoff this connection made and has not yet seen end: how to word the answer if
/// its owner never ran the request.
pub(super) struct Handed {
    render: Render,
    /// The shard that has the socket: it may leave the rest of a whole read to run.
    owner: usize,
}

impl Conn {
    /// Hands the read's last answer to its owner if nothing else must be written first:
    /// a text or meta request on a plain socket, the only remote op of a read that asks
    /// for nothing more. Else hands the whole read off if it can ([`Conn::hand_off_whole`]).
    /// True if handed off.
    pub(super) fn hand_off(&mut self, flow: &Flow) -> bool {
        let Some(fd) = self.handoff_fd(flow).filter(|_| self.proto == Proto::Text) else {
            return self.hand_off_whole(flow);
        };
        let Some((owner, how)) = self.text.plan.lone_remote() else {
            return self.hand_off_whole(flow);
        };
        let (how, echo) = wording(&self.text.meta, how);
        let render = Render::Words(how);
        let slot = self.handoff.get_or_insert_with(Arc::<Handoff>::default);
        let batch = take_handed(&mut self.text.plan, owner, slot, (fd, render), echo);
        self.text.meta.clear();
        self.send_handoff(owner, batch, render);
        true
    }

    /// Hands a text or meta read's whole answer to the one shard its remote ops go to,
    /// local answers included, so that no reply comes back and this connection is not
    /// woken to write it (pipelined clients: the lone-op handoff above covers depth 1).
    /// The binary front end's is in [`Conn::hand_off_binary`].
    fn hand_off_whole(&mut self, flow: &Flow) -> bool {
        if *flow != Flow::Read || self.proto != Proto::Text {
            return false;
        }
        let Some(fd) = self.stream.raw_fd() else {
            return false;
        };
        let super::text::Text { plan, meta, .. } = &mut self.text;
        let Some(owner) = plan.sole_owner() else {
            return false;
        };
        let slot = self.handoff.get_or_insert_with(Arc::<Handoff>::default);
        let batch = take_whole(plan, owner, slot, fd, |how| wording(meta, how));
        self.text.meta.clear();
        self.send_whole(owner, batch);
        true
    }

    /// The binary protocol's handoff: as [`Conn::hand_off`], for a read whose binary
    /// answers come down to one remote op (a getk's key, which its miss repeats, waits in
    /// the slot); else the read whole, as [`Conn::hand_off_whole`], if nothing of this
    /// connection's waits to go out before it.
    pub(super) fn hand_off_binary(&mut self, flow: &Flow) -> bool {
        let Some(fd) = self.handoff_fd(flow) else {
            return false;
        };
        let Binary { plan, keys, .. } = &mut self.bin;
        let lone = plan.lone_remote().map(|(owner, r)| (owner, Some(r)));
        let Some((owner, lone)) = lone.or_else(|| Some((plan.sole_owner()?, None))) else {
            return false;
        };
        let slot = self.handoff.get_or_insert_with(Arc::<Handoff>::default);
        let Some(lone) = lone else {
            let batch = take_whole(plan, owner, slot, fd, |r| r.wording(keys));
            keys.clear();
            self.send_whole(owner, batch);
            return true;
        };
        let (how, key) = lone.wording(keys);
        let render = Render::Words(how);
        let batch = take_handed(plan, owner, slot, (fd, render), key);
        keys.clear();
        self.send_handoff(owner, batch, render);
        true
    }

    /// The socket, if this read may end in a handoff: nothing else asked of the
    /// connection (a close, a flush, a watch) and nothing written yet.
    fn handoff_fd(&self, flow: &Flow) -> Option<RawFd> {
        if *flow != Flow::Read || !self.text.plan.out.is_empty() {
            return None;
        }
        self.stream.raw_fd()
    }

    /// Sends a read handed off whole to its owner ([`take_whole`]).
    fn send_whole(&mut self, owner: usize, mut batch: Batch) {
        batch.reply_budget = REMOTE_BUDGET;
        let ops = batch.len();
        self.send_handoff(owner, batch, Render::Whole);
        // Counted as requests: `send_handoff` counted the first.
        let counters = &self.shard.counters;
        ConnCounters::add(&counters.remote_ops, ops as u64 - 1);
        ConnCounters::add(&counters.handed_off, ops as u64 - 1);
    }

    /// Sends a handed-off request to its owner, with this batch's requests for the
    /// owner to record their latency once it has written the answer.
    fn send_handoff(&mut self, owner: usize, mut batch: Batch, render: Render) {
        if let Some(d) = batch.handoff.as_mut() {
            d.tally = std::mem::take(&mut self.tally);
            d.start = self.batch_start;
        }
        let counters = &self.shard.counters;
        ConnCounters::add(&counters.remote_batches, 1);
        ConnCounters::add(&counters.remote_ops, 1);
        ConnCounters::add(&counters.handed_off, 1);
        self.shard.hand_off(self.token, owner, batch);
        self.handed = Some(Handed { render, owner });
    }

    /// Waits until the owner of a handed-off answer is done with the socket, then writes
    /// what it left: the part the socket did not take, the answer of an owner that never
    /// ran it, or the rest of a whole read, which it runs first. Nothing to do without a
    /// handoff.
    pub(super) async fn take_back(&mut self) -> std::io::Result<()> {
        let (Some(handed), Some(slot)) = (&self.handed, self.handoff.clone()) else {
            return Ok(());
        };
        let (render, owner) = (handed.render, handed.owner);
        let done = futures_lite::future::poll_fn(|cx| slot.poll_done(cx)).await;
        // Only now: a connection dropped while the owner may still write keeps its socket
        // number from being reused (`Drop for Conn`).
        self.handed = None;
        let Some(done) = done else {
            return Ok(());
        };
        let out = &mut self.text.plan.out;
        if done.state == State::NotRun {
            slot.render(out, None, render);
        }
        out.extend_from_slice(&done.rest);
        let owes = done.owes();
        let mut written = self.write_out().await;
        if let (Some(left), true) = (done.left, written.is_ok()) {
            written = self.run_left(owner, left).await;
        }
        if owes {
            handoff::written_by_asker();
        }
        written
    }
}

impl Conn {
    /// Asks for the rest of a whole read whose owner stopped at a full socket, and writes
    /// the answers in order, as a read that was never handed off would.
    async fn run_left(&mut self, owner: usize, left: handoff::Rest) -> std::io::Result<()> {
        let batch = Batch::encoded(&left.ops, left.len);
        let pieces = left.pieces.iter().map(|p| match p {
            Piece::Local(r) => Ok(&left.local[r.clone()]),
            Piece::Answer(how, echo) => Err((*how, &left.local[echo.clone()])),
        });
        let finished = if self.proto == Proto::Binary {
            let Binary { plan, keys, .. } = &mut self.bin;
            plan.resume(
                owner,
                batch,
                pieces.map(|p| p.map_err(|(how, key)| Remote::keep(keys, how, key))),
            );
            let finished = Box::pin(self.finish_bin_batch()).await;
            self.bin_output();
            finished
        } else {
            let super::text::Text { plan, meta, .. } = &mut self.text;
            plan.resume(
                owner,
                batch,
                pieces.map(|p| p.map_err(|(how, echo)| meta.keep_left(how, echo))),
            );
            Box::pin(self.finish_batch()).await
        };
        let written = self.write_out().await;
        let mut tally = left.tally;
        self.shard.record_latency(&mut tally, left.start);
        finished.and(written)
    }
}

/// How the owner words a text or meta request's answer, and what it repeats of the
/// request (a meta request's echo, kept in `meta`).
fn wording(meta: &super::meta::MetaSide, how: How) -> (Wording, &[u8]) {
    match how {
        How::Text(r) => (Wording::Text(r), &[]),
        How::Meta(i) => meta.handoff(i),
    }
}

/// Takes a [`Plan::sole_owner`] read's answers into the slot with the socket `fd`: local
/// bytes as they are, each remote op as `how` words it, with what it repeats of its
/// request; returns the batch for `owner`, which carries the socket.
fn take_whole<'a, R: Copy>(
    plan: &mut Plan<R>,
    owner: usize,
    slot: &Arc<Handoff>,
    fd: RawFd,
    mut how: impl FnMut(R) -> (Wording, &'a [u8]),
) -> Batch {
    let mut batch = Batch::default();
    let direct = Direct::start_whole(slot, fd, |local, pieces| {
        batch = plan.take_whole(owner, |p| {
            let start = local.len();
            match p {
                Ok(bytes) => {
                    local.extend_from_slice(bytes);
                    match pieces.last_mut() {
                        Some(Piece::Local(r)) if r.end == start => r.end = local.len(),
                        _ => pieces.push(Piece::Local(start..local.len())),
                    }
                }
                Err(r) => {
                    let (how, echo) = how(r);
                    local.extend_from_slice(echo);
                    pieces.push(Piece::Answer(how, start..local.len()));
                }
            }
        });
    });
    batch.handoff = Some(direct);
    batch
}

/// Waits for `read`, or until the owner of a handed-off answer left bytes for this
/// connection to write (`None`), whichever comes first. An answer written whole does
/// not end the wait: the client's next request does.
pub(super) async fn or_left<T>(read: impl Future<Output = T>, slot: &Handoff) -> Option<T> {
    let left = async {
        futures_lite::future::poll_fn(|cx| slot.poll_left(cx)).await;
        None
    };
    futures_lite::future::or(async { Some(read.await) }, left).await
}

/// Takes a [`Plan::lone_remote`] read's batch for `owner` with the socket and slot: the
/// bytes that follow the answer go into the slot.
fn take_handed<R: Copy>(
    plan: &mut Plan<R>,
    owner: usize,
    slot: &Arc<Handoff>,
    to: (RawFd, Render),
    echo: &[u8],
) -> Batch {
    let mut direct = None;
    let mut batch = plan.take_lone(owner, |tail| {
        direct = Some(Direct::start(slot, to, echo, tail));
    });
    batch.handoff = direct;
    batch
}
