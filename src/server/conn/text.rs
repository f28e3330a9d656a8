//! The text protocol's front end on a connection: parses every complete request in the read
//! buffer, turns each into ops for the shards that own their keys, and answers the
//! connection-level commands (stats, version, shutdown, ...) itself.

use super::meta::{How, MetaSide};
use super::plan::Plan;
use super::{Conn, Flow, VERSION};
use crate::protocol::number::{parse_flags, parse_u64};
use crate::protocol::op::Op;
use crate::protocol::text::{Keys, Parsed, Reply, Request, parse, render};
use crate::server::crawler::{Claim, Refused};
use crate::server::lookahead::{Lookahead, PipelineAhead};
use crate::server::router::shard_of;
use crate::server::shard::Shard;
use crate::stats::{ConnCounters, Family};
use std::rc::Rc;
use std::sync::atomic::Ordering;

/// Bytes of answers a connection holds before it stops parsing and writes them out (the
/// way memcached stops at a full output queue): a client that never reads costs about this
/// plus one value, whatever it pipelined.
pub(super) const OUT_LIMIT: usize = 256 << 10;
/// Remote ops queued in one round before the connection sends them and writes out: bounds
/// a multi-get line of thousands of keys, far above what batching needs.
pub(super) const ROUND_OPS: usize = 1024;

/// What one call of `handle_input` keeps between requests.
struct Turn {
    /// Made only once a second request is waiting behind the first, so a connection at
    /// depth 1 pays one comparison per request for it. Boxed, like the rare awaits, to keep
    /// the connection's future small: every idle connection holds one.
    ahead: Option<Box<PipelineAhead>>,
    /// memcached's -R: after this many requests in one read, let other connections run.
    per_event: usize,
    served: usize,
    /// Answers were made since the last point where memcached writes its answers out (a
    /// get line's END, `mn`, a -R yield): a metadump then refuses, as memcached's does.
    stacked: bool,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(ahead) = self.ahead.take() {
            PipelineAhead::give_back(ahead);
        }
    }
}

impl Turn {
    fn new(per_event: usize) -> Self {
        Turn {
            ahead: None,
            per_event,
            served: 0,
            stacked: false,
        }
    }

    /// Counts a request; true when it completes a share of -R requests.
    fn served_one(&mut self) -> bool {
        self.served += 1;
        if self.served != self.per_event {
            return false;
        }
        self.served = 0;
        true
    }
}

/// The commands that write straight to `out`, so nothing may be pending before them.
enum Whole {
    Stats(Vec<u8>),
    Metadump(u64),
}

/// A multi-get line stopped at the output bound: where its keys continue in the pending
/// input, so the line is finished after the output drains without parsing it again.
#[derive(Clone, Copy)]
pub(super) struct Resume {
    /// Offsets in the pending bytes of the next key and of the end of the keys.
    at: usize,
    end: usize,
    /// The request's whole length, consumed once the last key is answered.
    len: usize,
    cas: bool,
    touch: Option<i32>,
}

impl Conn {
    /// Handles every complete request buffered; stops at an incomplete one, a close, or
    /// when the answers held reach OUT_LIMIT (`Flow::Flush`: write out, then come back).
    pub(super) async fn handle_input(&mut self) -> Flow {
        let mut turn = self.begin_input();
        loop {
            if let Some(flow) = self.before_parse() {
                return flow;
            }
            let parsed = parse(self.input.pending());
            if let Parsed::Done { consumed, req } = &parsed {
                self.prefetch(&mut turn.ahead, *consumed);
                self.tally.note(family(req));
            }
            let was_stacked = std::mem::replace(&mut turn.stacked, stacks(&parsed));
            match parsed {
                Parsed::Incomplete => return Flow::Read,
                Parsed::Close => return self.protocol_close(),
                Parsed::NeedData {
                    total,
                    kind,
                    key,
                    value_len,
                    noreply,
                    ..
                } => {
                    if self.value_fits(key.len(), value_len) {
                        self.input.expect(total);
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
                    if self.value_fits(req.key(&mut buf).len(), value_len) {
                        self.input.expect(total);
                        return Flow::Read;
                    }
                    self.text.meta(req);
                    self.input.skip(total);
                }
                Parsed::Swallow { total, msg } => {
                    self.text.line(msg);
                    self.input.skip(total);
                }
                Parsed::Done {
                    consumed,
                    req: Request::Get { keys, cas, touch },
                } => {
                    let pending = self.input.pending();
                    let r = Resume::new(pending, keys, consumed, cas, touch);
                    if !self.text.get_line(pending, r) {
                        return Flow::Flush;
                    }
                    self.input.consume(consumed);
                }
                Parsed::Done { consumed, req } => {
                    let flow = match req {
                        Request::Stats { args } => self.whole(Whole::Stats(args.0.to_vec())).await,
                        Request::LruCrawler { args } if metadump_arg(args).is_some() => {
                            let which = metadump_arg(args).unwrap_or_default().to_vec();
                            self.metadump_request(which, was_stacked).await
                        }
                        req => self.text.request(req),
                    };
                    self.input.consume(consumed);
                    if matches!(flow, Flow::Close | Flow::Watch(_)) {
                        return flow;
                    }
                    if turn.served_one() && !self.input.pending().is_empty() {
                        self.give_way().await;
                        turn.stacked = false;
                    }
                }
            }
        }
    }

    /// A read's requests begin: the connection is seen, and a turn starts.
    fn begin_input(&self) -> Turn {
        self.seen.last_cmd.set(self.shard.now_ms.get());
        self.seen.in_value.set(false);
        Turn::new(self.shard.cfg().compat.reqs_per_event)
    }

    /// Where a pass stops before parsing: `Flush` when the answers held must go out first,
    /// `Read` when nothing is pending (what parsing the empty buffer would say, without
    /// the call: every read ends here).
    fn before_parse(&mut self) -> Option<Flow> {
        if self.must_flush() {
            return Some(Flow::Flush);
        }
        self.input.pending().is_empty().then_some(Flow::Read)
    }

    /// Finishes a multi-get line cut at the output bound; true when the answers held are
    /// at the bound and must be written out before parsing on.
    fn must_flush(&mut self) -> bool {
        if let Some(r) = self.text.resume.take() {
            if !self.text.get_line(self.input.pending(), r) {
                return true;
            }
            self.input.consume(r.len);
        }
        self.text.full()
    }

    /// A storage request whose value is still arriving: true when it fits, and the
    /// connection now waits for the value (memcached's `conn_nread`); false when it must be
    /// refused as too large.
    fn value_fits(&self, key_len: usize, value_len: usize) -> bool {
        let fits = self.shard.store.borrow().item_fits(key_len, value_len);
        self.seen.in_value.set(fits);
        fits
    }

    /// A request memcached closes the connection for (`watch` reports it as an error).
    pub(super) fn protocol_close(&mut self) -> Flow {
        self.protocol_error = true;
        Flow::Close
    }

    /// memcached's -R: this connection ran its share of one read; let the others run.
    async fn give_way(&self) {
        ConnCounters::add(&self.shard.counters.conn_yields, 1);
        futures_lite::future::yield_now().await;
        self.serve_here();
    }

    /// A command answered whole into `out` once every answer before it is out.
    async fn whole(&mut self, w: Whole) -> Flow {
        if let Err(e) = Box::pin(self.finish_batch()).await {
            tracing::debug!("write before stats or metadump: {e}");
            return Flow::Close;
        }
        let flow = match w {
            Whole::Stats(args) => Box::pin(self.stats(Keys(&args))).await,
            Whole::Metadump(classes) => Box::pin(self.metadump(classes)).await,
        };
        self.serve_here();
        flow
    }

    /// `lru_crawler metadump <classes>`, refused as memcached refuses it: the crawler off,
    /// answers made before it in the same read, a bad class, a crawl running. Otherwise
    /// streamed (`dump.rs`) while it holds the crawler.
    async fn metadump_request(&mut self, which: Vec<u8>, stacked: bool) -> Flow {
        let shard = self.shard.clone();
        let crawler = &shard.shared.crawler;
        let classes = parse_class_mask(&which);
        let refusal = if !crawler.enabled() {
            render::CRAWLER_DISABLED
        } else if stacked {
            render::METADUMP_PIPELINED
        } else if let Some(classes) = classes {
            match crawler.claim_classes(classes, 1) {
                Ok(()) => {
                    let _held = Claim(crawler);
                    return self.whole(Whole::Metadump(classes)).await;
                }
                Err(Refused::Busy) => render::CRAWLER_BUSY,
                Err(Refused::Disabled) => render::CRAWLER_DISABLED,
                Err(Refused::NoClasses) => render::CRAWLER_NOT_STARTED,
            }
        } else {
            render::ERR_BAD_CLASS
        };
        self.text.line(refusal);
        Flow::Read
    }

    /// Moves the pipeline prefetch on past the request of `consumed` bytes at the front.
    fn prefetch(&self, ahead: &mut Option<Box<PipelineAhead>>, consumed: usize) {
        let shard = &self.shard;
        let (buf, start) = self.input.window();
        // At depth 1 nothing follows the request: no need to look at the store.
        if ahead.is_none() && start + consumed >= buf.len() {
            return;
        }
        let store = shard.store.borrow();
        match ahead {
            Some(a) => a.step(buf, &store),
            None if start + consumed < buf.len() => {
                let (n, me) = (shard.nshards, shard.id);
                *ahead = Some(PipelineAhead::boxed(buf, start + consumed, &store, n, me));
            }
            None => {}
        }
    }
}

/// The latency family of a parsed request.
fn family(req: &Request<'_>) -> Family {
    match req {
        Request::Op { op, .. } => Family::of(op),
        Request::Get { touch, .. } => Family::of(&Op::Get {
            key: b"",
            touch: *touch,
        }),
        Request::Meta(_) | Request::MetaNoop => Family::Meta,
        _ => Family::Other,
    }
}

impl Resume {
    /// A get line of `len` bytes at the front of `pending`, from its first key.
    fn new(pending: &[u8], keys: Keys<'_>, len: usize, cas: bool, touch: Option<i32>) -> Self {
        let at = keys.0.as_ptr() as usize - pending.as_ptr() as usize;
        let end = at + keys.0.len();
        Resume {
            at,
            end,
            len,
            cas,
            touch,
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
    /// A multi-get line cut at the output bound, to finish before parsing on.
    pub resume: Option<Resume>,
}

impl Text {
    /// True when the answers held, or the remote ops queued, must go out before more
    /// requests are parsed.
    fn full(&self) -> bool {
        self.plan.held() >= OUT_LIMIT || self.plan.queued() >= ROUND_OPS
    }

    /// Answers the keys of a get line (in `pending`) from `r.at`: true when the line is
    /// done, false when it stopped at the bound (and where to resume is recorded).
    fn get_line(&mut self, pending: &[u8], r: Resume) -> bool {
        match self.get(Keys(&pending[r.at..r.end]), r.cas, r.touch) {
            None => true,
            Some(done) => {
                self.resume = Some(Resume {
                    at: r.at + done,
                    ..r
                });
                false
            }
        }
    }

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
            Request::Get { .. } => unreachable!("answered by handle_input"),
            Request::FlushAll { delay, noreply } => self.flush_all(delay, noreply),
            Request::Version => self.plan.local(|out| render::version(out, VERSION)),
            Request::RefreshCerts { noreply } => {
                // As memcached: noreply silences the OK, never an error.
                match crate::server::tls::refresh_reply(&self.shard) {
                    Ok(()) if noreply => {}
                    Ok(()) => self.line(render::OK),
                    Err(e) => self.line(&e),
                }
            }
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
            Request::Shutdown { graceful } => return self.shutdown(graceful),
            Request::Watch { kinds } => return self.watch_request(kinds),
            Request::Stats { .. } => unreachable!("answered by handle_input"),
        }
        Flow::Read
    }

    /// Answers a get line's keys and its END; stops early, returning the offset in `keys`
    /// of the first key not yet answered, once the answers held reach the bound.
    fn get(&mut self, keys: Keys<'_>, cas: bool, touch: Option<i32>) -> Option<usize> {
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
            for (i, key) in keys.iter().enumerate() {
                // At least one key per call, so a resumed line always moves on.
                if i > 0 && self.full() {
                    return Some(key.as_ptr() as usize - keys.0.as_ptr() as usize);
                }
                ahead.step(&shard.store.borrow());
                self.route(Op::Get { key, touch }, how);
            }
        }
        self.line(render::END);
        None
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

    fn shutdown(&mut self, graceful: bool) -> Flow {
        if !self.shard.cfg().shutdown_enabled {
            self.line(render::ERR_SHUTDOWN_DISABLED);
            return Flow::Read;
        }
        // Both stop as SIGTERM does here: requests in flight finish (memcached's plain
        // `shutdown` exits at once).
        let why = if graceful {
            "shutdown graceful command"
        } else {
            "shutdown command"
        };
        crate::server::lifecycle::stop(&self.shard.shared, why);
        Flow::Close
    }

    /// `lru_crawler` but `metadump` (`Conn::metadump_request`), with memcached's answers.
    fn lru_crawler(&mut self, args: Keys<'_>) {
        let words: Vec<&[u8]> = args.iter().collect();
        let shard = self.shard.clone();
        let crawler = &shard.shared.crawler;
        let reply = match words.as_slice() {
            [b"crawl", which] => self.crawl(which),
            [b"tocrawl", n] => match parse_flags(n) {
                Some(n) => {
                    crawler.tocrawl.store(n, Ordering::Relaxed);
                    render::OK
                }
                None => render::ERR_FORMAT,
            },
            [b"sleep", n] => match parse_flags(n) {
                Some(n) if n > 1_000_000 => render::CRAWLER_SLEEP_TOO_LONG,
                Some(n) => {
                    crawler.sleep_us.store(n, Ordering::Relaxed);
                    render::OK
                }
                None => render::ERR_FORMAT,
            },
            [b"enable"] if crawler.enable() => render::OK,
            [b"enable"] => render::CRAWLER_START_FAILED,
            [b"disable"] => {
                crawler.disable();
                render::OK
            }
            _ => render::ERROR,
        };
        self.line(reply);
    }

    /// `lru_crawler crawl <classes|all>`: every shard crawls its part of those classes in
    /// steps of its own (server/runtime.rs); `stats` shows `lru_crawler_running` until the
    /// last shard is done.
    fn crawl(&mut self, which: &[u8]) -> &'static str {
        let shard = self.shard.clone();
        let crawler = &shard.shared.crawler;
        if !crawler.enabled() {
            return render::CRAWLER_DISABLED;
        }
        let classes = match parse_class_mask(which) {
            Some(m) if which != b"hash" => m,
            // memcached walks its hash table for metadump only.
            Some(_) if crawler.running() => return render::CRAWLER_BUSY,
            Some(_) => return render::CRAWLER_ERROR,
            None => return render::ERR_BAD_CLASS,
        };
        match crawler.claim_classes(classes, shard.nshards) {
            Ok(()) => {}
            Err(Refused::Busy) => return render::CRAWLER_BUSY,
            Err(Refused::Disabled) => return render::CRAWLER_DISABLED,
            Err(Refused::NoClasses) => return render::CRAWLER_NOT_STARTED,
        }
        let tocrawl = crawler.tocrawl.load(Ordering::Relaxed);
        self.broadcast(Op::Crawl { classes, tocrawl }, Reply::noreply(true));
        render::OK
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

/// Whether a request's answer waits in memcached's response stack until the read is done:
/// all do but a get line's and `mn`'s, which write the stack out.
fn stacks(parsed: &Parsed<'_>) -> bool {
    !matches!(
        parsed,
        Parsed::Done {
            req: Request::Get { .. } | Request::MetaNoop,
            ..
        }
    )
}

/// The class argument of `lru_crawler metadump <classes>` (exactly that many words).
fn metadump_arg(args: Keys<'_>) -> Option<&[u8]> {
    let mut words = args.iter();
    match (words.next(), words.next(), words.next()) {
        (Some(b"metadump"), Some(which), None) => Some(which),
        _ => None,
    }
}

/// "all", "hash" (every item, as memcached's hash-table walk lists them) or a
/// comma-separated list of class ids (1..=63, empty parts skipped, as memcached's strtok
/// does) as a bit mask: bit i is class i + 1.
fn parse_class_mask(which: &[u8]) -> Option<u64> {
    if which == b"all" || which == b"hash" {
        return Some(u64::MAX);
    }
    let mut mask = 0u64;
    for part in which.split(|&b| b == b',').filter(|p| !p.is_empty()) {
        let id = parse_flags(part)?;
        if !(1..=63).contains(&id) {
            return None;
        }
        mask |= 1 << (id - 1);
    }
    Some(mask)
}
