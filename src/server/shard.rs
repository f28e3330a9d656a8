//! One shard's state: its store (touched only by this executor thread), its end of the
//! cross-shard channel meshes, and the connections it accepted.

use super::crawler::Crawler;
use super::exec::execute;
use super::handoff::Direct;
use super::lookahead::Lookahead;
use super::pool::Lists;
use super::router::{Batch, Reply, Request};
use super::watch::{Sink, Watchers, sink};
use crate::config::Config;
use crate::protocol::op::{Op, OpIter, Outcome};
use crate::protocol::text::watch::EVICTIONS;
use crate::replication::{NodeRepl, ReplCounters, ShardRepl};
use crate::stats::{ConnCounters, DetailEvent, Latencies, PrefixStats, ShardSnapshot, Tally};
use crate::storage::Store;
use glommio::channels::channel_mesh::Senders;
use glommio::channels::local_channel::{LocalReceiver, LocalSender};
use glommio::{GlommioError, ResourceType};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// Scratch space kept between metadumps; more is given back.
const SCRATCH_KEEP: usize = 1 << 20;

/// Process-wide state every shard can see (atomics only; no store lives here).
pub struct Shared {
    shutdown: AtomicBool,
    /// Shards whose own connections have finished their last batch since the stop.
    pub drained: AtomicUsize,
    pub conns: AtomicUsize,
    /// Which shard serves each new client connection (`server::spread`).
    pub spread: super::spread::Spread,
    /// The next token a shard gives a connection or other waiter (`Shard::register_waiter`).
    pub next_token: AtomicU64,
    pub started: Instant,
    pub cfg: Config,
    pub repl: Option<NodeRepl>,
    /// With -Z: the client TLS configurations and counters (set by `runtime::run`).
    pub tls: Option<Arc<super::tls::TlsServer>>,
    /// `stats detail on`: every shard counts its ops by key prefix.
    pub detail: AtomicBool,
    /// Item memory of the node, -m at start and `cache_memlimit` since.
    pub memory_limit: AtomicUsize,
    /// `lru_crawler`'s settings and whether a crawl runs.
    pub crawler: Crawler,
    /// `watch`: every watcher of the node.
    pub watch: Watchers,
    /// The stopper's end of each shard's stop socket. A sleeping shard has nothing else
    /// that would wake it: no tick polls the shutdown flag.
    stop_tx: Vec<UnixStream>,
    /// The stop's progress, phase by phase (`lifecycle`).
    pub stopping: super::lifecycle::Stopping,
}

impl Shared {
    /// Also returns the shards' ends of their stop sockets, one per shard: a read on one
    /// completes (end of stream) once [`Shared::stop`] has run.
    pub fn new(cfg: Config) -> std::io::Result<(Self, Vec<UnixStream>)> {
        let mut stop_tx = Vec::with_capacity(cfg.shards);
        let mut stop_rx = Vec::with_capacity(cfg.shards);
        for _ in 0..cfg.shards {
            let (tx, rx) = UnixStream::pair()?;
            rx.set_nonblocking(true)?;
            stop_tx.push(tx);
            stop_rx.push(rx);
        }
        let shared = Shared {
            shutdown: AtomicBool::new(false),
            drained: AtomicUsize::new(0),
            conns: AtomicUsize::new(0),
            spread: super::spread::Spread::new(cfg.shards),
            next_token: AtomicU64::new(1),
            started: Instant::now(),
            repl: cfg.repl.as_ref().map(|_| NodeRepl::new()),
            tls: None,
            detail: AtomicBool::new(false),
            memory_limit: AtomicUsize::new(cfg.memory_limit),
            crawler: Crawler::new(cfg.compat.ext.lru_crawler),
            watch: Watchers::default(),
            cfg,
            stop_tx,
            stopping: Default::default(),
        };
        Ok((shared, stop_rx))
    }

    /// A client connection that shard `shard` served (or refused) has ended.
    pub fn conn_ended(&self, shard: usize) {
        self.conns.fetch_sub(1, Ordering::Relaxed);
        self.spread.left(shard);
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Stops the server from any thread: sets the flag, then wakes every shard by ending
    /// its stop socket (the flag is set first, so a woken shard always sees it).
    pub fn stop(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        for tx in &self.stop_tx {
            let _ = tx.shutdown(Shutdown::Write);
        }
    }
}

/// Where a loop that runs only while requests arrive stands (the expiry reclaim, the tick
/// hold): it runs for one quiet step after them, so an idle shard has no timer armed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reclaim {
    /// Not running: the next request wakes it.
    Idle,
    /// Running, and a request came since its last step.
    Busy,
    /// Running, and no request came since its last step.
    Quiet,
}

use super::wall::Wall;
use crate::storage::unix_ms;

struct ConnInfo {
    /// `stats conns` names, with the transport: "tcp:127.0.0.1:5000", "unix:/path".
    peer: String,
    local: String,
    /// Unix ms of the connection's last request, written by the connection itself.
    seen: Rc<Seen>,
}

/// What `stats conns` shows of a connection, written by the connection itself.
pub struct Seen {
    /// Unix ms of the connection's last request.
    pub last_cmd: Cell<u64>,
    /// Waiting for the rest of a storage command's value (memcached's `conn_nread`).
    pub in_value: Cell<bool>,
}

impl Seen {
    pub fn new(now_ms: u64) -> Self {
        Seen {
            last_cmd: Cell::new(now_ms),
            in_value: Cell::new(false),
        }
    }
}

pub struct Shard {
    /// This shard's id in the request mesh: the id keys hash to.
    pub id: usize,
    pub nshards: usize,
    /// This shard's id in the reply mesh (meshes number their peers independently).
    pub reply_id: usize,
    pub store: RefCell<Store>,
    pub counters: ConnCounters,
    pub shared: Arc<Shared>,
    pub req_tx: Senders<Request>,
    pub rep_tx: Senders<Vec<Reply>>,
    /// Batches waiting for the next flush, per destination shard (see `send_batches`).
    outq: RefCell<Vec<Vec<(u64, Batch)>>>,
    flush_wake: LocalSender<()>,
    /// Connections currently in the middle of a batch; shutdown waits for them.
    pub busy: Cell<usize>,
    /// The shard's clock (unix ms), set once per batch of requests (a read, a remote
    /// batch, a twin's run) from the executor's lap reading, not per request: expiry has
    /// one-second resolution and versions are a hybrid logical clock.
    pub now_ms: Cell<u64>,
    /// Turns the executor's lap reading into unix time for `now_ms`.
    wall: Wall,
    pub reclaim: Cell<Reclaim>,
    reclaim_wake: LocalSender<()>,
    /// The tick hold (`--tick-hold-us`) follows the reclaim's pattern: running while
    /// requests come, idle (no timer) after a quiet period. Always `Busy` when it is off.
    pub hold: Cell<Reclaim>,
    hold_wake: LocalSender<()>,
    /// Outbound replication state, with --twin; shared with the shard's twin link.
    pub repl: Option<Rc<ShardRepl>>,
    /// Where a metadump writes its lines before they are rendered or sent.
    scratch: RefCell<Vec<u8>>,
    /// Where a handed-off answer is rendered before the owner writes it.
    handoff_out: RefCell<Vec<u8>>,
    /// Emptied lists from the requests other shards sent, for this shard's own.
    pub spare_queues: Lists<(u64, Batch)>,
    /// Emptied lists from the replies other shards sent, for this shard's own.
    pub spare_replies: Lists<Reply>,
    detail: RefCell<PrefixStats>,
    latency: RefCell<Latencies>,
    /// This shard's events for `watch`, staged until the end of the batch.
    pub sink: Sink,
    waiters: RefCell<HashMap<u64, LocalSender<Reply>>>,
    conns: RefCell<HashMap<u64, ConnInfo>>,
}

impl Shard {
    pub fn new(
        store: Store,
        shared: Arc<Shared>,
        req_tx: Senders<Request>,
        rep_tx: Senders<Vec<Reply>>,
        reclaim_wake: LocalSender<()>,
        flush_wake: LocalSender<()>,
        hold_wake: LocalSender<()>,
    ) -> Self {
        let repl = shared.cfg.repl.as_ref().map(|r| {
            let bytes = r.backlog_bytes / req_tx.nr_consumers();
            Rc::new(ShardRepl::new(bytes, r.backlog_secs))
        });
        let logbuf = shared.cfg.compat.ext.worker_logbuf_size;
        let hold = match shared.cfg.tick_hold_us {
            0 => Reclaim::Busy,
            _ => Reclaim::Idle,
        };
        Shard {
            id: req_tx.peer_id(),
            nshards: req_tx.nr_consumers(),
            reply_id: rep_tx.peer_id(),
            store: RefCell::new(store),
            counters: ConnCounters::default(),
            shared,
            outq: RefCell::new((0..req_tx.nr_consumers()).map(|_| Vec::new()).collect()),
            flush_wake,
            req_tx,
            rep_tx,
            busy: Cell::new(0),
            now_ms: Cell::new(unix_ms()),
            wall: Wall::new(),
            reclaim: Cell::new(Reclaim::Idle),
            reclaim_wake,
            hold: Cell::new(hold),
            hold_wake,
            repl,
            scratch: RefCell::new(Vec::new()),
            handoff_out: RefCell::new(Vec::new()),
            spare_queues: Lists::default(),
            spare_replies: Lists::default(),
            detail: RefCell::new(PrefixStats::default()),
            latency: RefCell::new(Latencies::default()),
            sink: Sink::new(logbuf),
            waiters: RefCell::new(HashMap::new()),
            conns: RefCell::new(HashMap::new()),
        }
    }

    pub fn cfg(&self) -> &Config {
        &self.shared.cfg
    }

    /// Registers something that sends batches to other shards; their replies for the
    /// returned token are delivered to `tx`.
    pub fn register_waiter(&self, tx: LocalSender<Reply>) -> u64 {
        // Node-wide, so that ids sort in the order connections opened whichever shard
        // serves them (`stats conns`).
        let token = self.shared.next_token.fetch_add(1, Ordering::Relaxed);
        self.waiters.borrow_mut().insert(token, tx);
        token
    }

    /// Registers a client connection (also listed by `stats conns`); the connection
    /// records what `stats conns` shows of it in `seen`.
    pub fn register(
        &self,
        tx: LocalSender<Reply>,
        peer: String,
        local: String,
        seen: Rc<Seen>,
    ) -> u64 {
        let token = self.register_waiter(tx);
        let info = ConnInfo { peer, local, seen };
        self.conns.borrow_mut().insert(token, info);
        token
    }

    pub fn unregister(&self, token: u64) {
        self.waiters.borrow_mut().remove(&token);
        self.conns.borrow_mut().remove(&token);
    }

    /// Hands a reply from another shard to the connection waiting for it.
    pub fn deliver(&self, reply: Reply) {
        if let Some(tx) = self.waiters.borrow().get(&reply.conn) {
            let _ = tx.try_send(reply);
        }
    }

    /// Requests are about to run: reads the clock, and starts the expiry reclaim if it is
    /// idle. Every path into the store calls this first, so nothing needs a tick.
    pub fn on_work(&self) {
        self.read_clock();
        let kinds = self.shared.watch.kinds();
        self.sink.sync_store(kinds, &self.store);
        if self.reclaim.replace(Reclaim::Busy) == Reclaim::Idle {
            let _ = self.reclaim_wake.try_send(());
        }
        if self.hold.replace(Reclaim::Busy) == Reclaim::Idle {
            let _ = self.hold_wake.try_send(());
        }
    }

    pub fn read_clock(&self) {
        // The executor's reading, not a clock read: older than this task by what ran
        // before it in this turn of its task queue (at most glommio's 100 ms preemption),
        // well under expiry's one-second resolution.
        let now = self.wall.unix_ms(glommio::timer::lap_now());
        self.now_ms.set(now);
        self.store.borrow_mut().set_clock(now);
    }

    /// A connection read requests: false if the server is stopping, and then the
    /// connection must close without starting them. Otherwise counts it busy until
    /// [`Shard::end_batch`], which the stopping shard waits for.
    pub fn begin_batch(&self) -> bool {
        // Read on this thread after the shard saw the flag, so once the drain has seen no
        // busy connection, none starts again.
        if self.shared.shutting_down() {
            return false;
        }
        self.busy.set(self.busy.get() + 1);
        self.on_work();
        true
    }

    pub fn end_batch(&self) {
        self.busy.set(self.busy.get() - 1);
    }

    /// A connection wrote the replies of a batch that started at `start`: its requests
    /// (counted in `tally`, which is emptied) all took that long. One clock read per batch,
    /// whose reading it returns; none when the batch held no request.
    pub fn record_latency(&self, tally: &mut Tally, start: Instant) -> Option<Instant> {
        if tally.is_empty() {
            return None;
        }
        let end = Instant::now();
        let took = end.saturating_duration_since(start);
        // Not `as_micros`, whose u128 arithmetic costs more than this.
        let took = took.as_secs() * 1_000_000 + u64::from(took.subsec_micros());
        self.latency.borrow_mut().record(tally, took);
        Some(end)
    }

    /// The id `stats conns` and `watch` give connection `token` of shard `shard`.
    pub fn conn_id(shard: usize, token: u64) -> u64 {
        (token << 10) | shard as u64
    }

    /// Runs a batch shard `from` sent us for its connection `conn`, in order, and builds
    /// the reply.
    pub fn execute_batch(&self, from: usize, conn: u64, batch: &Batch) -> Reply {
        self.on_work();
        self.sink.serving.set(Shard::conn_id(from, conn));
        let mut reply = Reply::new(conn, self.id, batch.len());
        let keys = batch.ops().filter_map(|op| op.key());
        let mut ahead = Lookahead::new(keys, &self.store.borrow(), 1, 0);
        let (budget, total) = (batch.reply_budget, batch.len());
        let mut ops = batch.ops();
        while let Some(op) = ops.next() {
            if op.key().is_some() {
                ahead.step(&self.store.borrow());
            }
            if op == Op::Stats {
                reply.snapshots.push(self.snapshot());
                reply.push(&Outcome::Done);
            } else {
                self.run(op, |outcome| reply.push(outcome));
            }
            if reply.stop_at_budget(budget, OpIter(ops.0), total) {
                break;
            }
        }
        self.log_mutations();
        reply
    }

    /// Runs a handed-off request (`server::handoff`), or a whole read's, and writes its
    /// answer to the asker's client socket: the asker is woken only if the socket did not
    /// take it all, if it already waits for the socket back, or if the owner of a whole
    /// read left it the rest.
    pub fn answer_handed(&self, from: usize, conn: u64, batch: &Batch, to: &Direct) {
        self.on_work();
        self.sink.serving.set(Shard::conn_id(from, conn));
        let mut out = self.handoff_out.borrow_mut();
        out.clear();
        // What a whole read's owner left unrun: the encoded ops and how many.
        let mut left = None;
        if to.is_whole() {
            let keys = batch.ops().filter_map(|op| op.key());
            let mut ahead = Lookahead::new(keys, &self.store.borrow(), 1, 0);
            let mut ops = batch.ops();
            let mut ran = 0;
            let budget = batch.reply_budget;
            let (sent, stopped) = to.answer_whole(&mut out, budget, |word| match ops.next() {
                Some(op) => {
                    if op.key().is_some() {
                        ahead.step(&self.store.borrow());
                    }
                    ran += 1;
                    self.run(op, |o| word(Some(o)));
                }
                None => word(None),
            });
            ConnCounters::add(&self.counters.bytes_written, sent as u64);
            left = stopped.then(|| (ops.0, batch.len() - ran));
        } else if let Some(op) = batch.ops().next() {
            self.run(op, |o| to.render(&mut out, o));
        }
        self.log_mutations();
        if let Some((ops, n)) = left {
            // The asker records the read's latency once it has written the rest.
            to.stop(&out, ops, n);
        } else {
            let sent = to.finish(&mut out);
            ConnCounters::add(&self.counters.bytes_written, sent as u64);
            // In this shard's histograms: they are summed over the shards.
            let mut tally = to.tally;
            self.record_latency(&mut tally, to.start);
        }
        if out.capacity() > SCRATCH_KEEP {
            *out = Vec::new();
        }
    }

    /// Runs `op` on this shard's store and hands its outcome to `f`, which renders it (local
    /// keys) or encodes it for the asking shard.
    pub fn run<T>(&self, op: Op<'_>, f: impl FnOnce(&Outcome<'_>) -> T) -> T {
        let mut store = self.store.borrow_mut();
        let mut scratch = self.scratch.borrow_mut();
        let watch = &self.shared.watch;
        // The one check an op pays when nobody watches.
        let kinds = watch.kinds();
        let before = match kinds {
            0 => None,
            _ => self.sink.before(watch, kinds, &store, op),
        };
        let outcome = execute(&mut store, &self.counters, op, &mut scratch);
        // `matches!`, not `==`: a derived comparison of two ops is a call per request.
        if self.shared.detail.load(Ordering::Relaxed) || matches!(op, Op::ResetStats) {
            self.record_detail(op, &outcome);
        }
        let done = before.map(|_| sink::summarize(&outcome));
        let r = f(&outcome);
        if let (Some(b), Some(d)) = (before, done) {
            self.sink.after(watch, &mut store, op, b, d);
        } else if kinds & EVICTIONS != 0 {
            self.sink.after_keyless(watch, &mut store);
        }
        // A metadump of a big shard must not keep its whole text for the process's life.
        if scratch.capacity() > SCRATCH_KEEP {
            *scratch = Vec::new();
        }
        if let (Some(repl), Op::Apply(_)) = (&self.repl, op) {
            ReplCounters::add(&repl.counters.records_applied, 1);
        }
        r
    }

    /// `stats detail`: counts `op` under its key's prefix, as memcached's front end does
    /// (every storage command is a set, whether it stored or not).
    fn record_detail(&self, op: Op<'_>, outcome: &Outcome<'_>) {
        let (key, event) = match op {
            Op::ResetStats => return self.detail.borrow_mut().clear(),
            Op::Get { key, .. } => (
                key,
                DetailEvent::Get {
                    hit: matches!(outcome, Outcome::Hit(_)),
                },
            ),
            Op::Store { key, .. } | Op::TooLarge { key, .. } => (key, DetailEvent::Set),
            Op::Delete { key, .. } => (key, DetailEvent::Delete),
            _ => return,
        };
        let delimiter = self.cfg().compat.prefix_delimiter;
        self.detail.borrow_mut().record(key, delimiter, event);
    }

    /// Moves the store's new mutations into the replication backlog and wakes the sender:
    /// once per batch of requests, not per request.
    pub fn log_mutations(&self) {
        self.sink.flush(&self.shared.watch);
        if let Some(repl) = &self.repl {
            let mut store = self.store.borrow_mut();
            if !store.log_bytes().is_empty() {
                repl.log(store.log_bytes());
                store.clear_log();
            }
        }
    }

    /// Queues each non-empty batch for its owner on behalf of `token`; returns how many
    /// replies to wait for. The flush task sends the queues once the connections made
    /// ready in this turn of the loop have queued theirs: one message per destination for
    /// all of them, not one per connection (Seastar's per-destination queues).
    pub async fn send_batches(&self, token: u64, batches: &mut [Batch]) -> usize {
        let mut waiting = 0;
        for (s, batch) in batches.iter_mut().enumerate() {
            if !batch.is_empty() {
                self.queue(s, token, std::mem::take(batch));
                waiting += 1;
            }
        }
        waiting
    }

    /// Queues a handed-off request (`server::handoff`) for its owner, with the others.
    pub fn hand_off(&self, token: u64, owner: usize, batch: Batch) {
        self.queue(owner, token, batch);
    }

    fn queue(&self, owner: usize, token: u64, batch: Batch) {
        let mut q = self.outq.borrow_mut();
        if q.iter().all(Vec::is_empty) {
            // Queued behind the tasks already made ready, so their batches join this flush.
            let _ = self.flush_wake.try_send(());
        }
        q[owner].push((token, batch));
    }

    /// Sends what `send_batches` queued, one message per destination, each time it is
    /// woken. An owner that is gone (the server is stopping) answers nothing, which the
    /// waiting connection renders as an unavailable shard.
    pub async fn flush_loop(self: Rc<Self>, wake: LocalReceiver<()>) {
        let mut queues = Vec::with_capacity(self.nshards);
        while wake.recv().await.is_some() {
            queues.extend(
                self.outq
                    .borrow_mut()
                    .iter_mut()
                    .map(|q| match q.is_empty() {
                        true => Vec::new(),
                        false => std::mem::replace(q, self.spare_queues.take()),
                    }),
            );
            for (s, batches) in queues.drain(..).enumerate() {
                if batches.is_empty() {
                    continue;
                }
                let req = Request {
                    reply_to: self.reply_id,
                    batches,
                };
                // A batch whose connection waits for the answer wakes the owner at once
                // (glommio patch 21): the owner's own sockets may stay quiet for as long as
                // their clients wait on hops of their own. A handed-off request (depth 1)
                // may be left to the owner's sockets, which patch 15 measured worth doing;
                // so may a whole read handed off: waking at once cost 15 % more CPU per
                // request for the same ops/s and p99, pipelined at -t 2 on two cores.
                let awaited = req.batches.iter().any(|(_, b)| b.handoff.is_none());
                let send = self.req_tx.send_to(s, req);
                let sent = match awaited {
                    true => glommio::channels::prompt_wake(send).await,
                    false => send.await,
                };
                match sent {
                    Ok(()) => {}
                    // The owner has gone (a stop): what waits for a reply gets an empty one,
                    // and a handed-off request releases its asker as it drops (`Direct`).
                    Err(GlommioError::Closed(ResourceType::Channel(req))) => {
                        for (conn, batch) in req.batches {
                            if batch.handoff.is_none() {
                                self.deliver(Reply::new(conn, s, 0));
                            }
                        }
                    }
                    Err(e) => tracing::error!("cannot send to shard {s}: {e}"),
                }
            }
        }
    }

    /// Sends the batches and waits until every owner has run its batch.
    pub async fn run_batches(&self, token: u64, rx: &LocalReceiver<Reply>, batches: &mut [Batch]) {
        for _ in 0..self.send_batches(token, batches).await {
            if rx.recv().await.is_none() {
                break;
            }
        }
    }

    /// Runs `op` (`Stats` or `ResetStats`) on every shard for the waiter `token`, whose
    /// replies come to `rx`: each shard answers between its batches, so nothing waits on a
    /// lock. For `Stats`, every shard's snapshot in shard order.
    pub async fn gather(
        &self,
        token: u64,
        rx: &LocalReceiver<Reply>,
        op: Op<'_>,
    ) -> Vec<ShardSnapshot> {
        let mut batches: Vec<Batch> = (0..self.nshards).map(|_| Batch::default()).collect();
        for (s, b) in batches.iter_mut().enumerate() {
            if s != self.id {
                b.push(op);
            }
        }
        let waiting = self.send_batches(token, &mut batches).await;
        let mut snaps: Vec<ShardSnapshot> = Vec::with_capacity(self.nshards);
        match op {
            Op::Stats => snaps.push(self.snapshot()),
            _ => self.run(op, |_| ()),
        }
        for _ in 0..waiting {
            match rx.recv().await {
                Some(mut r) => snaps.append(&mut r.snapshots),
                None => break,
            }
        }
        snaps.sort_by_key(|s| s.shard);
        snaps
    }

    pub fn snapshot(&self) -> ShardSnapshot {
        let store = self.store.borrow();
        let mut conn_lines = Vec::new();
        let now = self.now_ms.get();
        for (token, c) in self.conns.borrow().iter() {
            let id = Shard::conn_id(self.id, *token);
            let mut lines = Vec::new();
            let _ = write!(
                lines,
                "STAT {id}:addr {}\r\nSTAT {id}:listen_addr {}\r\nSTAT {id}:state {}\r\nSTAT {id}:secs_since_last_cmd {}\r\n",
                c.peer,
                c.local,
                if c.seen.in_value.get() {
                    "conn_nread"
                } else {
                    "conn_parse_cmd"
                },
                // Whole seconds of the clock apart, as memcached counts them.
                (now / 1000).saturating_sub(c.seen.last_cmd.get() / 1000)
            );
            conn_lines.push((id, lines));
        }
        ShardSnapshot {
            shard: self.id,
            store: store.stats(),
            classes: store.class_stats(),
            conns: self.counters.snapshot(),
            repl: self.repl.as_ref().map(|r| r.snapshot()),
            conn_lines,
            detail: self.detail.borrow().clone(),
            latency: *self.latency.borrow(),
        }
    }
}
