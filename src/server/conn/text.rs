//! The text protocol's front end on a connection: parses every complete request in the read
//! buffer, turns each into ops for the shards that own their keys, and answers the
//! connection-level commands (stats, version, shutdown, ...) itself.

use super::meta::{How, MetaSide};
use super::plan::Plan;
use super::{Conn, Flow, VERSION};
use crate::protocol::number::parse_u64;
use crate::protocol::op::Op;
use crate::protocol::text::{Keys, Parsed, Reply, Request, parse, render};
use crate::server::lookahead::{Lookahead, PipelineAhead};
use crate::server::router::shard_of;
use crate::server::shard::Shard;
use crate::stats::ConnCounters;
use std::rc::Rc;
use std::sync::atomic::Ordering;

impl Conn {
    /// Handles every complete request buffered; stops at an incomplete one or a close.
    pub(super) async fn handle_input(&mut self) -> Flow {
        let shard = self.shard.clone();
        self.seen.last_cmd.set(shard.now_ms.get());
        self.seen.in_value.set(false);
        // Made only once a second request is waiting behind the first, so a connection at
        // depth 1 pays one comparison per request for it.
        let mut ahead: Option<PipelineAhead> = None;
        // memcached's -R: after this many requests in one read, let other connections run.
        let per_event = shard.cfg().compat.reqs_per_event;
        let mut served = 0;
        loop {
            let parsed = parse(self.input.pending());
            if let Parsed::Done { consumed, .. } = parsed {
                let (buf, start) = self.input.window();
                let store = shard.store.borrow();
                match &mut ahead {
                    Some(a) => a.step(buf, &store),
                    None if start + consumed < buf.len() => {
                        let (n, me) = (shard.nshards, shard.id);
                        ahead = Some(PipelineAhead::new(buf, start + consumed, &store, n, me));
                    }
                    None => {}
                }
            }
            match parsed {
                Parsed::Incomplete => return Flow::Read,
                Parsed::Close => return Flow::Close,
                Parsed::NeedData {
                    total,
                    kind,
                    key,
                    value_len,
                    noreply,
                    ..
                } => {
                    if shard.store.borrow().item_fits(key.len(), value_len) {
                        self.seen.in_value.set(true);
                        self.input.reserve(total);
                        return Flow::Read;
                    }
                    self.text
                        .route(Op::TooLarge { kind, key }, Reply::noreply(noreply));
                    self.input.skip(total);
                }
                Parsed::MetaNeedData {
                    total,
                    value_len,
                    req,
                } => {
                    let mut buf = [0; 256];
                    let key_len = req.key(&mut buf).len();
                    if shard.store.borrow().item_fits(key_len, value_len) {
                        self.input.reserve(total);
                        return Flow::Read;
                    }
                    self.text.meta(req);
                    self.input.skip(total);
                }
                Parsed::Swallow { total, msg } => {
                    self.text.line(msg);
                    self.input.skip(total);
                }
                Parsed::Done { consumed, req } => {
                    let flow = match req {
                        Request::Stats { args } => {
                            let args = args.0.to_vec();
                            self.finish_batch().await;
                            self.stats(Keys(&args)).await
                        }
                        Request::LruCrawler { args } if metadump_mask(args).is_some() => {
                            let classes = metadump_mask(args).unwrap_or(0);
                            self.finish_batch().await;
                            self.metadump(classes).await
                        }
                        req => self.text.request(req),
                    };
                    self.input.consume(consumed);
                    if flow == Flow::Close {
                        return flow;
                    }
                    served += 1;
                    if served == per_event && !self.input.pending().is_empty() {
                        served = 0;
                        ConnCounters::add(&shard.counters.conn_yields, 1);
                        futures_lite::future::yield_now().await;
                    }
                }
            }
        }
    }
}

/// The text front end's state beside the read buffer: the shard it runs on and the reply
/// plan of the current read.
pub(super) struct Text {
    pub shard: Rc<Shard>,
    pub plan: Plan<How>,
    /// Meta requests of this read waiting on other shards.
    pub meta: MetaSide,
}

impl Text {
    /// Runs `op` here if this shard owns its key, else queues it for the owner; an op
    /// without a key runs on every shard.
    fn route(&mut self, op: Op<'_>, how: Reply) {
        let shard = &self.shard;
        let Some(key) = op.key() else {
            return self.broadcast(op, how);
        };
        let owner = shard_of(key, shard.nshards);
        if owner == shard.id {
            self.plan
                .local(|out| shard.run(op, |o| render::outcome(out, Some(o), how)));
        } else {
            self.plan.remote(owner, op, How::Text(how));
        }
    }

    /// Queues `op` for every other shard and runs it here, keeping per-shard order.
    fn broadcast(&mut self, op: Op<'_>, how: Reply) {
        let shard = &self.shard;
        for s in (0..shard.nshards).filter(|&s| s != shard.id) {
            self.plan.remote(s, op, How::Text(how));
        }
        self.plan
            .local(|out| shard.run(op, |o| render::outcome(out, Some(o), how)));
    }

    /// A status line, in its place among the answers.
    pub(super) fn line(&mut self, line: &str) {
        self.plan.local(|out| render::line(out, line));
    }

    /// One request that is not `stats`.
    fn request(&mut self, req: Request<'_>) -> Flow {
        match req {
            Request::Op {
                op: Op::Store {
                    kind, key, value, ..
                },
                noreply,
            } if !self.shard.store.borrow().item_fits(key.len(), value.len()) => {
                self.route(Op::TooLarge { kind, key }, Reply::noreply(noreply))
            }
            Request::Op { op, noreply } => self.route(op, Reply::noreply(noreply)),
            Request::Get { keys, cas, touch } => self.get(keys, cas, touch),
            Request::FlushAll { delay, noreply } => self.flush_all(delay, noreply),
            Request::Version => self.plan.local(|out| render::version(out, VERSION)),
            Request::Verbosity { noreply } if !noreply => self.line(render::OK),
            Request::LruCrawler { args } => self.lru_crawler(args),
            Request::Slabs { args } => self.slabs(args),
            Request::CacheMemlimit { megabytes, noreply } => {
                self.cache_memlimit(megabytes, noreply)
            }
            Request::Error { msg, noreply } if !noreply => self.line(msg),
            Request::Verbosity { .. } | Request::Error { .. } => {}
            Request::Meta(req) => self.meta(req),
            Request::MetaNoop => self.meta_noop(),
            Request::Quit => return Flow::Close,
            Request::Shutdown { .. } => return self.shutdown(),
            Request::Stats { .. } => unreachable!("answered by handle_input"),
        }
        Flow::Read
    }

    fn get(&mut self, keys: Keys<'_>, cas: bool, touch: Option<i32>) {
        let how = Reply {
            noreply: false,
            cas,
        };
        let mut it = keys.iter();
        if let (Some(key), None) = (it.next(), it.next()) {
            self.route(Op::Get { key, touch }, how);
        } else {
            let shard = self.shard.clone();
            let (n, me) = (shard.nshards, shard.id);
            let mut ahead = Lookahead::new(keys.iter(), &shard.store.borrow(), n, me);
            for key in keys.iter() {
                ahead.step(&shard.store.borrow());
                self.route(Op::Get { key, touch }, how);
            }
        }
        self.line(render::END);
    }

    fn flush_all(&mut self, delay: Option<i32>, noreply: bool) {
        ConnCounters::add(&self.shard.counters.cmd_flush, 1);
        let refusal = if !self.shard.cfg().flush_enabled {
            Some(render::ERR_FLUSH_DISABLED)
        } else if delay.is_none() {
            Some(render::ERR_EXPTIME)
        } else {
            None
        };
        if let Some(why) = refusal {
            if !noreply {
                self.line(why);
            }
            return;
        }
        let delay = delay.unwrap_or(0);
        self.broadcast(Op::Flush { delay }, Reply::noreply(noreply));
        if !noreply {
            self.line(render::OK);
        }
    }

    fn shutdown(&mut self) -> Flow {
        if !self.shard.cfg().shutdown_enabled {
            self.line(render::ERR_SHUTDOWN_DISABLED);
            return Flow::Read;
        }
        tracing::info!("shutdown requested by a client");
        self.shard.shared.stop();
        Flow::Close
    }

    /// `lru_crawler`: expired items are reclaimed continuously here, so the crawl controls
    /// are accepted and do nothing; a valid `metadump` is streamed by `Conn::metadump`.
    fn lru_crawler(&mut self, args: Keys<'_>) {
        let words: Vec<&[u8]> = args.iter().collect();
        match words.as_slice() {
            [b"metadump", _] => self.line(render::ERR_BAD_CLASS),
            [b"crawl", _] | [b"tocrawl", _] | [b"sleep", _] | [b"enable"] | [b"disable"] => {
                self.line(render::OK)
            }
            _ => self.line(render::ERROR),
        }
    }
}

impl Text {
    /// `slabs automove <0|1|2>` and `slabs reassign <src> <dst>`, with memcached's answers.
    /// Pages move here by themselves when a class needs one (docs/architecture.md), so a
    /// valid reassign is acknowledged as memcached acknowledges a queued one.
    fn slabs(&mut self, args: Keys<'_>) {
        let words: Vec<&[u8]> = args.iter().collect();
        let int = |w: &[u8]| std::str::from_utf8(w).ok()?.parse::<i64>().ok();
        let classes = self.shard.store.borrow().class_count() as i64;
        let reply = match words.as_slice() {
            [b"automove", level, ..] => match parse_u64(level) {
                None => render::ERR_FORMAT,
                Some(0..=2) => render::OK,
                Some(_) => render::ERROR,
            },
            [b"reassign", _, _] if !self.shard.cfg().compat.ext.slab_reassign => {
                render::REASSIGN_DISABLED
            }
            [b"reassign", src, dst] => match (int(src), int(dst)) {
                (Some(s), Some(d)) if s == d => render::REASSIGN_SAME,
                (Some(s), Some(d))
                    if (s == -1 || (1..=classes).contains(&s)) && (1..=classes).contains(&d) =>
                {
                    render::OK
                }
                (Some(_), Some(_)) => render::REASSIGN_BADCLASS,
                _ => render::ERR_FORMAT,
            },
            _ => render::ERROR,
        };
        self.line(reply);
    }

    /// `cache_memlimit <MB>`: every shard takes its share of the new limit, in request order.
    fn cache_memlimit(&mut self, megabytes: u64, noreply: bool) {
        let shard = &self.shard;
        let bytes = megabytes << 20;
        let per_shard = bytes / shard.nshards as u64;
        let reply = if megabytes < 8 {
            Some(render::MEMLIMIT_TOO_SMALL)
        } else if megabytes > 1_000_000_000 {
            Some(render::MEMLIMIT_NOT_MB)
        } else if !shard.store.borrow().mem_limit_fits(per_shard as usize) {
            Some(render::MEMLIMIT_FAILED)
        } else {
            None
        };
        if let Some(why) = reply {
            if !noreply {
                self.line(why);
            }
            return;
        }
        shard
            .shared
            .memory_limit
            .store(bytes as usize, Ordering::Relaxed);
        let op = Op::MemLimit { bytes: per_shard };
        self.broadcast(op, Reply::noreply(noreply));
        if !noreply {
            self.line(render::OK);
        }
    }
}

/// The class mask of a valid `lru_crawler metadump <classes>`.
fn metadump_mask(args: Keys<'_>) -> Option<u64> {
    let mut words = args.iter();
    match (words.next(), words.next(), words.next()) {
        (Some(b"metadump"), Some(which), None) => parse_class_mask(which),
        _ => None,
    }
}

/// "all", "hash" (every item, as memcached's hash-table walk lists them) or a
/// comma-separated list of class ids (1..=64) as a bit mask.
fn parse_class_mask(which: &[u8]) -> Option<u64> {
    if which == b"all" || which == b"hash" {
        return Some(u64::MAX);
    }
    let mut mask = 0u64;
    for part in which.split(|&b| b == b',') {
        let id: u32 = std::str::from_utf8(part).ok()?.parse().ok()?;
        if !(1..=64).contains(&id) {
            return None;
        }
        mask |= 1 << (id - 1);
    }
    Some(mask)
}
