//! The binary protocol's front end on a connection: parses every complete request packet in
//! the read buffer, runs keyed ops on their owning shards through the same reply plan as
//! text (so a getkq ... noop pipeline across shards keeps memcached's order), and answers
//! connection-level commands (noop, version, quit, flush, stat, SASL) itself.

use super::plan::Plan;
use super::text::{OUT_LIMIT, ROUND_OPS};
use super::{Conn, Flow, VERSION};
use crate::protocol::binary::{Cmd, Parsed, Reply, Request, Status, opcode, parse, peek, render};
use crate::protocol::op::{Op, StoreKind};
use crate::protocol::text::Keys;
use crate::server::handoff::Wording;
use crate::server::lookahead::PipelineAhead;
use crate::server::router::{Reply as ShardReply, shard_of};
use crate::server::shard::Shard;
use crate::stats::{ConnCounters, Family};
use std::rc::Rc;

/// Bytes of remote getk keys an idle connection keeps: a pipeline's worth of short keys.
const KEYS_KEEP: usize = 1024;

/// The binary front end's state beside the read buffer.
pub(super) struct Binary {
    pub shard: Rc<Shard>,
    pub plan: Plan<Remote>,
    /// Keys of remote getk/gatk requests, which their miss responses repeat.
    pub keys: Vec<u8>,
    /// SASL: whether this connection has authenticated.
    pub authed: bool,
    /// How much of `plan.out` memcached would have sent by now (see `note_flush`).
    flushed: usize,
}

/// A remote op's render context: the reply, and where its key sits in `Binary::keys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Remote {
    reply: Reply,
    key_at: u32,
    key_len: u16,
}

impl Remote {
    /// How the owner words this answer when it writes it (`server::handoff`), and the
    /// key it repeats (a getk's; else empty).
    pub fn wording(self, keys: &[u8]) -> (Wording, &[u8]) {
        let key = &keys[self.key_at as usize..][..self.key_len as usize];
        (Wording::Binary(self.reply), key)
    }

    /// The render context of an answer an owner left unwritten (the rest of a whole
    /// read), from its wording and the `key` it repeats, which is kept again in `keys`.
    pub fn keep(keys: &mut Vec<u8>, how: Wording, key: &[u8]) -> Remote {
        let Wording::Binary(reply) = how else {
            // A connection's protocol never changes, and only text reads word so.
            unreachable!("a text answer in a binary read");
        };
        let key_at = keys.len() as u32;
        keys.extend_from_slice(key);
        Remote {
            reply,
            key_at,
            key_len: key.len() as u16,
        }
    }
}

impl Conn {
    /// Handles every complete request packet buffered (or up to the output bound), then
    /// waits for the other shards' answers and leaves all responses, in order, in the
    /// connection's output.
    pub(super) async fn handle_binary(&mut self) -> Flow {
        let shard = self.shard.clone();
        self.seen.last_cmd.set(shard.now_ms.get());
        let sasl = shard.cfg().sasl.is_some();
        self.bin.flushed = 0;
        let mut served = 0usize;
        // As in the text front end: made once a second request waits behind the first.
        let mut ahead: Option<PipelineAhead> = None;
        let flow = loop {
            // The text front end's bound: past it, write out before parsing on.
            if self.bin.plan.held() >= OUT_LIMIT || self.bin.plan.queued() >= ROUND_OPS {
                break Flow::Flush;
            }
            let locked = sasl && !self.bin.authed;
            let parsed = parse(self.input.pending(), locked);
            if let Parsed::Done { consumed, .. } = parsed {
                self.bin_prefetch(&mut ahead, consumed);
            }
            match parsed {
                Parsed::Incomplete { need } => {
                    self.input.expect(need);
                    break Flow::Read;
                }
                Parsed::BadMagic => {
                    self.bin.drop_unflushed();
                    break self.protocol_close();
                }
                Parsed::NeedValue {
                    total,
                    reply,
                    kind,
                    key,
                    value_len,
                } => {
                    if shard.store.borrow().item_fits(key.len(), value_len) {
                        self.input.expect(total);
                        break Flow::Read;
                    }
                    self.tally.note(Family::Set);
                    self.bin.too_large(reply, kind, key);
                    self.input.skip(total);
                }
                Parsed::Done {
                    consumed,
                    swallow,
                    req,
                } => {
                    self.tally.note(family(&req.cmd));
                    let flow = match req.cmd {
                        Cmd::Stat { key } => {
                            let (key, r) = (key.to_vec(), req.reply);
                            self.input.skip(consumed + swallow);
                            if self.finish_bin_batch().await.is_err() {
                                break Flow::Close;
                            }
                            self.bin_stat(r, &key).await;
                            self.serve_here();
                            continue;
                        }
                        _ => {
                            let before = self.bin.plan.out.len();
                            let flow = self.bin.request(req);
                            served += 1;
                            self.bin.note_flush(before, served, swallow > 0);
                            flow
                        }
                    };
                    self.input.skip(consumed + swallow);
                    if flow == Flow::Close {
                        break flow;
                    }
                }
            }
        };
        self.end_binary(flow).await
    }

    /// After a read's packets: hands its one remote answer to the owner, or waits for the
    /// other shards' answers and leaves every response, in order, in the output.
    async fn end_binary(&mut self, flow: Flow) -> Flow {
        if self.bin.plan.waiting() && self.hand_off_binary(&flow) {
            return flow;
        }
        let written = self.finish_bin_batch().await;
        self.bin_output();
        if written.is_ok() { flow } else { Flow::Close }
    }

    /// Moves the pipeline prefetch on past the packet of `consumed` bytes at the front.
    fn bin_prefetch(&self, ahead: &mut Option<PipelineAhead>, consumed: usize) {
        let shard = &self.shard;
        let (buf, start) = self.input.window();
        let store = shard.store.borrow();
        match ahead {
            Some(a) => a.step(buf, &store),
            None if start + consumed < buf.len() => {
                let at = start + consumed;
                let who = (shard.nshards, shard.id);
                *ahead = Some(PipelineAhead::with_peek(buf, at, &store, who, peek));
            }
            None => {}
        }
    }

    /// Sends the remote batches, waits for every reply, and assembles the answers; an
    /// owner that stopped at its reply budget is sent the rest, round after round. Fails
    /// if writing out between rounds fails: the connection must close then, as the plan
    /// still holds ops whose keys are gone (carrying on panicked the shard).
    pub(super) async fn finish_bin_batch(&mut self) -> std::io::Result<()> {
        let mut replies: Vec<Option<ShardReply>> = Vec::new();
        while self.bin.plan.waiting() {
            super::round(
                &self.shard,
                self.token,
                &self.rx,
                &mut self.bin.plan,
                &mut replies,
            )
            .await;
            let keys = &self.bin.keys;
            self.bin.plan.assemble(&mut replies, |out, o, r: Remote| {
                let key = &keys[r.key_at as usize..][..r.key_len as usize];
                render::outcome(out, o, r.reply, key)
            });
            // As the text front end does: what came back is written out before the owners
            // are sent the rest, so rounds of big values do not pile up here.
            if self.bin.plan.waiting() {
                self.bin_output();
                self.bin.flushed = 0;
                if let Err(e) = self.write_out().await {
                    self.bin.keys.clear();
                    return Err(e);
                }
            }
        }
        self.bin.keys.clear();
        Ok(())
    }

    /// Moves the binary responses to the connection's output buffer.
    pub(super) fn bin_output(&mut self) {
        let (out, bin) = (&mut self.text.plan.out, &mut self.bin.plan.out);
        if out.is_empty() {
            std::mem::swap(out, bin);
        } else {
            out.append(bin);
        }
    }

    /// `stat [group]`: the text protocol's `stats` answer, one packet per line.
    async fn bin_stat(&mut self, r: Reply, key: &[u8]) {
        self.bin_output();
        self.bin.flushed = 0;
        let mark = self.text.plan.out.len();
        self.stats(Keys(key)).await;
        let text = self.text.plan.out.split_off(mark);
        let out = &mut self.text.plan.out;
        // As memcached: the whole prefix dump is one stat named "detailed".
        if key.starts_with(b"detail dump") {
            render::stat(out, r, b"detailed", &text);
            return render::stat(out, r, b"", b"");
        }
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(pair) = line.strip_prefix(b"STAT ") {
                let at = pair.iter().position(|&b| b == b' ').unwrap_or(pair.len());
                let value = pair.get(at + 1..).unwrap_or(b"");
                render::stat(out, r, &pair[..at], value);
            } else if line == b"END" || line == b"RESET" || line == b"OK" {
                render::stat(out, r, b"", b"");
            } else {
                return render::status(out, r, Status::KeyNotFound);
            }
        }
    }
}

impl Binary {
    pub fn new(shard: Rc<Shard>) -> Self {
        let n = shard.nshards;
        Binary {
            shard,
            plan: Plan::new(n, 0),
            keys: Vec::new(),
            authed: false,
            flushed: 0,
        }
    }

    /// Gives back what an idle connection need not hold, as the text plan does.
    pub(super) fn shrink(&mut self) {
        self.plan.shrink(0);
        if self.keys.capacity() > KEYS_KEEP {
            self.keys = Vec::new();
        }
    }

    /// memcached sends its queued responses after an error status (except getk's miss,
    /// which carries the key, and errors that discard bytes), a noop, and every 20 requests
    /// of one read; when it then meets
    /// a packet without the request magic it closes and the rest is lost. Tracks that point
    /// so a bad magic loses the same responses here.
    fn note_flush(&mut self, before: usize, served: usize, swallows: bool) {
        let out = &self.plan.out;
        // An error that discards bytes after it waits for them before anything is sent.
        let flushes = !swallows
            && out.get(before..before + 8).is_some_and(|h| {
                let error = h[6..8] != [0, 0] && h[2..4] == [0, 0];
                error || h[1] == opcode::NOOP
            });
        if flushes || served.is_multiple_of(20) {
            self.flushed = out.len();
        }
    }

    fn drop_unflushed(&mut self) {
        if !self.plan.waiting() {
            self.plan.out.truncate(self.flushed);
        }
    }

    /// One request that is not `stat`.
    fn request(&mut self, req: Request<'_>) -> Flow {
        let r = req.reply;
        match req.cmd {
            Cmd::Op(Op::Store {
                kind, key, value, ..
            }) if !self.shard.store.borrow().item_fits(key.len(), value.len()) => {
                self.too_large(r, kind, key)
            }
            Cmd::Op(op) => self.route(op, r),
            Cmd::Flush { delay } => self.flush(delay, r),
            Cmd::Noop => self.local(|out| render::success(out, r, 0, b"")),
            Cmd::Version => self.local(|out| render::success(out, r, 0, VERSION.as_bytes())),
            Cmd::Quit => {
                self.local(|out| render::success(out, r, 0, b""));
                return Flow::Close;
            }
            Cmd::SaslList => self.sasl_list(r),
            Cmd::SaslAuth { mech, data } => self.sasl_auth(r, mech, data),
            Cmd::SaslStep { .. } => self.sasl_step(r),
            Cmd::Error { status, close } => {
                self.local(|out| render::status(out, r, status));
                if close {
                    return Flow::Close;
                }
            }
            Cmd::Stat { .. } => unreachable!("answered by handle_binary"),
        }
        Flow::Read
    }

    pub(super) fn local(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        self.plan.local(f);
    }

    /// Runs `op` here if this shard owns its key, else queues it for the owner.
    fn route(&mut self, op: Op<'_>, r: Reply) {
        let shard = &self.shard;
        let key = op.key().unwrap_or(b"");
        let owner = shard_of(key, shard.nshards);
        if owner == shard.id {
            self.plan
                .local(|out| shard.run(op, |o| render::outcome(out, Some(o), r, key)));
            return;
        }
        let key_at = self.keys.len() as u32;
        let key_len = if matches!(r.cmd, opcode::GETK | opcode::GATK) {
            self.keys.extend_from_slice(key);
            key.len() as u16
        } else {
            0
        };
        let how = Remote {
            reply: r,
            key_at,
            key_len,
        };
        self.plan.remote(owner, op, how);
    }

    /// A store whose item could never fit: "too large", and a set drops the old item.
    fn too_large(&mut self, r: Reply, kind: StoreKind, key: &[u8]) {
        let kind = if r.cmd == opcode::SET {
            StoreKind::Set
        } else {
            kind
        };
        self.route(Op::TooLarge { kind, key }, r);
    }

    fn flush(&mut self, delay: i32, r: Reply) {
        let shard = self.shard.clone();
        if !shard.cfg().flush_enabled {
            return self.local(|out| render::status(out, r, Status::AuthError));
        }
        ConnCounters::add(&shard.counters.cmd_flush, 1);
        let op = Op::Flush { delay };
        let how = Remote {
            reply: r,
            key_at: 0,
            key_len: 0,
        };
        for s in (0..shard.nshards).filter(|&s| s != shard.id) {
            self.plan.remote(s, op, how);
        }
        self.plan.local(|out| {
            shard.run(op, |_| ());
            render::success(out, r, 0, b"");
        });
    }
}

/// The latency family of a binary command.
fn family(cmd: &Cmd<'_>) -> Family {
    match cmd {
        Cmd::Op(op) => Family::of(op),
        _ => Family::Other,
    }
}
