//! The meta protocol's front end on a text connection: meta lines arrive interleaved with
//! text commands on one stream, so they share the text front end's reply plan; a meta
//! request for another shard keeps a copy of its key and flag tokens until its outcome
//! comes back, since its reply echoes them in request order.

use super::text::Text;
use crate::protocol::meta::{Echo, Flags, Request, render};
use crate::protocol::op::{MetaCmd, Op, Outcome};
use crate::protocol::text::Reply;
use crate::server::handoff::{self, Wording};
use crate::server::router::shard_of;
use crate::stats::ConnCounters;

/// How one planned answer is rendered: by the text protocol, or as pending meta request i.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum How {
    Text(Reply),
    Meta(u32),
}

/// A meta request waiting on another shard: its echo, with the bytes in `MetaSide::arena`.
struct Pending {
    cmd: MetaCmd,
    flags: Flags,
    key: (u32, u32),
    tokens: (u32, u32),
}

/// The meta requests of one read that wait on other shards.
#[derive(Default)]
pub(super) struct MetaSide {
    arena: Vec<u8>,
    pending: Vec<Pending>,
}

impl MetaSide {
    fn keep(&mut self, req: &Request<'_>) -> u32 {
        self.keep_echo(req.cmd, req.flags, req.key, req.tokens)
    }

    /// Keeps what a request's answer repeats of it (also for the rest of a whole read an
    /// owner left, `server::handoff`); returns its index.
    pub fn keep_echo(&mut self, cmd: MetaCmd, flags: Flags, key: &[u8], tokens: &[u8]) -> u32 {
        let mut put = |b: &[u8]| {
            let at = self.arena.len() as u32;
            self.arena.extend_from_slice(b);
            (at, b.len() as u32)
        };
        let (key, tokens) = (put(key), put(tokens));
        self.pending.push(Pending {
            cmd,
            flags,
            key,
            tokens,
        });
        self.pending.len() as u32 - 1
    }

    /// The render context of an answer an owner left unwritten (the rest of a whole read,
    /// `server::handoff`), from its wording and `echo`: a meta one's echo is kept again.
    pub fn keep_left(&mut self, how: Wording, echo: &[u8]) -> How {
        match how {
            Wording::Text(r) => How::Text(r),
            Wording::Meta {
                cmd,
                flags,
                key_len,
            } => {
                let (key, tokens) = handoff::split_echo(echo, key_len);
                How::Meta(self.keep_echo(cmd, flags, key, tokens))
            }
            // A connection's protocol never changes, and only binary reads word so.
            Wording::Binary(_) => unreachable!("a binary answer in a text read"),
        }
    }

    /// Renders the outcome of pending request `i`.
    pub fn render(&self, out: &mut Vec<u8>, o: Option<&Outcome<'_>>, i: u32) {
        let p = &self.pending[i as usize];
        let span = |(at, len): (u32, u32)| &self.arena[at as usize..(at + len) as usize];
        let echo = Echo {
            cmd: p.cmd,
            flags: &p.flags,
            key: span(p.key),
            tokens: span(p.tokens),
        };
        render::outcome(out, o, &echo);
    }

    /// How an owner that writes the answer itself words pending request `i`, and the
    /// bytes its answer repeats (`server::handoff`).
    pub fn handoff(&self, i: u32) -> (Wording, &[u8]) {
        let p = &self.pending[i as usize];
        let (at, key_len) = p.key;
        let end = p.tokens.0 + p.tokens.1;
        debug_assert_eq!(at + key_len, p.tokens.0);
        let how = Wording::Meta {
            cmd: p.cmd,
            flags: p.flags,
            key_len: key_len as usize,
        };
        (how, &self.arena[at as usize..end as usize])
    }

    pub fn clear(&mut self) {
        self.arena.clear();
        self.pending.clear();
    }
}

impl Text {
    /// One meta request: run here if this shard owns the key, else queued for its owner.
    pub(super) fn meta(&mut self, mut req: Request<'_>) {
        // memcached 1.6.18's cmd_meta counts `me` only; the others count as gets, sets,
        // deletes, incr/decr and touches.
        if req.cmd == MetaCmd::Debug {
            ConnCounters::add(&self.shard.counters.cmd_meta, 1);
        }
        let mut buf = [0; 256];
        let key = req.key(&mut buf);
        if req.cmd == MetaCmd::Set
            && !self
                .shard
                .store
                .borrow()
                .item_fits(key.len(), req.value.len())
        {
            req.flags.args.too_large = true;
            req.value = &[];
        }
        let op = Op::Meta {
            cmd: req.cmd,
            key,
            args: req.flags.args,
            value: req.value,
        };
        let shard = &self.shard;
        let owner = shard_of(key, shard.nshards);
        if owner == shard.id {
            let echo = Echo {
                cmd: req.cmd,
                flags: &req.flags,
                key: req.key,
                tokens: req.tokens,
            };
            self.plan
                .local(|out| shard.run(op, |o| render::outcome(out, Some(o), &echo)));
        } else {
            let i = self.meta.keep(&req);
            self.plan.remote(owner, op, How::Meta(i));
        }
    }

    /// `mn`: answered in its place, after everything before it.
    pub(super) fn meta_noop(&mut self) {
        self.plan
            .local(|out| crate::protocol::text::render::line(out, render::MN));
    }
}
