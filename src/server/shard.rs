//! One shard's state: its store (touched only by this executor thread), its end of the
//! cross-shard channel meshes, and the connections it accepted.

use super::exec::execute;
use super::lookahead::Lookahead;
use super::router::{Batch, Reply, Request};
use crate::config::Config;
use crate::protocol::op::{Op, OpIter, Outcome};
use crate::replication::{NodeRepl, ReplCounters, ShardRepl};
use crate::stats::{ConnCounters, ShardSnapshot};
use crate::storage::Store;
use glommio::channels::channel_mesh::Senders;
use glommio::channels::local_channel::{LocalReceiver, LocalSender};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Scratch space kept between metadumps; more is given back.
const SCRATCH_KEEP: usize = 1 << 20;

/// Process-wide state every shard can see (atomics only; no store lives here).
pub struct Shared {
    pub shutdown: AtomicBool,
    pub conns: AtomicUsize,
    pub started: Instant,
    pub cfg: Config,
    pub repl: Option<NodeRepl>,
}

impl Shared {
    pub fn new(cfg: Config) -> Self {
        Shared {
            shutdown: AtomicBool::new(false),
            conns: AtomicUsize::new(0),
            started: Instant::now(),
            repl: cfg.repl.as_ref().map(|_| NodeRepl::new()),
            cfg,
        }
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }
}

pub use crate::storage::unix_ms;

struct ConnInfo {
    peer: SocketAddr,
    local: SocketAddr,
    /// Unix ms of the connection's last request, written by the connection itself.
    last_cmd: Rc<Cell<u64>>,
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
    pub rep_tx: Senders<Reply>,
    /// Connections currently in the middle of a batch; shutdown waits for them.
    pub busy: Cell<usize>,
    /// The shard's clock (unix ms), advanced by its periodic tick rather than read per
    /// request: expiry has one-second resolution and versions are a hybrid logical clock.
    pub now_ms: Cell<u64>,
    /// Outbound replication state, with --twin; shared with the shard's twin link.
    pub repl: Option<Rc<ShardRepl>>,
    /// Where a metadump writes its lines before they are rendered or sent.
    scratch: RefCell<Vec<u8>>,
    waiters: RefCell<HashMap<u64, LocalSender<Reply>>>,
    conns: RefCell<HashMap<u64, ConnInfo>>,
    next_conn: Cell<u64>,
}

impl Shard {
    pub fn new(
        store: Store,
        shared: Arc<Shared>,
        req_tx: Senders<Request>,
        rep_tx: Senders<Reply>,
    ) -> Self {
        let repl = shared.cfg.repl.as_ref().map(|r| {
            let bytes = r.backlog_bytes / req_tx.nr_consumers();
            Rc::new(ShardRepl::new(bytes, r.backlog_secs))
        });
        Shard {
            id: req_tx.peer_id(),
            nshards: req_tx.nr_consumers(),
            reply_id: rep_tx.peer_id(),
            store: RefCell::new(store),
            counters: ConnCounters::default(),
            shared,
            req_tx,
            rep_tx,
            busy: Cell::new(0),
            now_ms: Cell::new(unix_ms()),
            repl,
            scratch: RefCell::new(Vec::new()),
            waiters: RefCell::new(HashMap::new()),
            conns: RefCell::new(HashMap::new()),
            next_conn: Cell::new(1),
        }
    }

    pub fn cfg(&self) -> &Config {
        &self.shared.cfg
    }

    /// Registers something that sends batches to other shards; their replies for the
    /// returned token are delivered to `tx`.
    pub fn register_waiter(&self, tx: LocalSender<Reply>) -> u64 {
        let token = self.next_conn.get();
        self.next_conn.set(token + 1);
        self.waiters.borrow_mut().insert(token, tx);
        token
    }

    /// Registers a client connection (also listed by `stats conns`); the connection
    /// records its last request time in `last_cmd`.
    pub fn register(
        &self,
        tx: LocalSender<Reply>,
        peer: SocketAddr,
        local: SocketAddr,
        last_cmd: Rc<Cell<u64>>,
    ) -> u64 {
        let token = self.register_waiter(tx);
        let info = ConnInfo {
            peer,
            local,
            last_cmd,
        };
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

    pub fn tick_clock(&self) {
        let now = unix_ms();
        self.now_ms.set(now);
        self.store.borrow_mut().set_clock(now);
    }

    /// Runs a batch another shard sent us, in order, and builds the reply.
    pub fn execute_batch(&self, req: &Request) -> Reply {
        let mut reply = Reply::new(req.conn, self.id, req.batch.len());
        let keys = req.batch.ops().filter_map(|op| op.key());
        let mut ahead = Lookahead::new(keys, &self.store.borrow(), 1, 0);
        let (budget, total) = (req.batch.reply_budget, req.batch.len());
        let mut ops = req.batch.ops();
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

    /// Runs `op` on this shard's store and hands its outcome to `f`, which renders it (local
    /// keys) or encodes it for the asking shard.
    pub fn run<T>(&self, op: Op<'_>, f: impl FnOnce(&Outcome<'_>) -> T) -> T {
        let mut store = self.store.borrow_mut();
        let mut scratch = self.scratch.borrow_mut();
        let outcome = execute(&mut store, &self.counters, op, &mut scratch);
        let r = f(&outcome);
        // A metadump of a big shard must not keep its whole text for the process's life.
        if scratch.capacity() > SCRATCH_KEEP {
            *scratch = Vec::new();
        }
        if let (Some(repl), Op::Apply(_)) = (&self.repl, op) {
            ReplCounters::add(&repl.counters.records_applied, 1);
        }
        r
    }

    /// Moves the store's new mutations into the replication backlog and wakes the sender:
    /// once per batch of requests, not per request.
    pub fn log_mutations(&self) {
        if let Some(repl) = &self.repl {
            let mut store = self.store.borrow_mut();
            if !store.log_bytes().is_empty() {
                repl.log(store.log_bytes(), self.now_ms.get());
                store.clear_log();
            }
        }
    }

    /// Sends each non-empty batch to its owner (one message per shard) on behalf of
    /// `token`; returns how many replies to wait for.
    pub async fn send_batches(&self, token: u64, batches: &mut [Batch]) -> usize {
        let mut waiting = 0;
        for (s, batch) in batches.iter_mut().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let req = Request {
                reply_to: self.reply_id,
                conn: token,
                batch: std::mem::take(batch),
            };
            if self.req_tx.send_to(s, req).await.is_ok() {
                waiting += 1;
            }
        }
        waiting
    }

    /// Sends the batches and waits until every owner has run its batch.
    pub async fn run_batches(&self, token: u64, rx: &LocalReceiver<Reply>, batches: &mut [Batch]) {
        for _ in 0..self.send_batches(token, batches).await {
            if rx.recv().await.is_none() {
                break;
            }
        }
    }

    pub fn snapshot(&self) -> ShardSnapshot {
        let store = self.store.borrow();
        let mut conn_lines = Vec::new();
        let now = self.now_ms.get();
        for (token, c) in self.conns.borrow().iter() {
            let id = (token << 10) | self.id as u64;
            let _ = write!(
                conn_lines,
                "STAT {id}:addr tcp:{}\r\nSTAT {id}:listen_addr tcp:{}\r\nSTAT {id}:state conn_parse_cmd\r\nSTAT {id}:secs_since_last_cmd {}\r\n",
                c.peer,
                c.local,
                now.saturating_sub(c.last_cmd.get()) / 1000
            );
        }
        ShardSnapshot {
            shard: self.id,
            store: store.stats(),
            classes: store.class_stats(),
            conns: self.counters.snapshot(),
            repl: self.repl.as_ref().map(|r| r.snapshot(self.now_ms.get())),
            conn_lines,
        }
    }
}
