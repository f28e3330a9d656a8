//! The per-connection loop: read, parse every complete request, run local keys at once,
//! send remote keys to their owners in one batch per shard, await those replies together,
//! then write all responses in request order.

use super::lookahead::{Lookahead, PipelineAhead};
use super::router::{Batch, OpRef, Reply, shard_of};
use super::shard::Shard;
use crate::protocol::response::write_line;
use crate::protocol::text::{Command, Keys, Parsed, parse};
use crate::stats::{self, ConnCounters, ProcessInfo, ShardSnapshot};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalReceiver};
use glommio::net::TcpStream;
use std::cell::Cell;
use std::ops::Range;
use std::rc::Rc;
use std::sync::atomic::Ordering;

pub const VERSION: &str = concat!("1.6.21-corecached-", env!("CARGO_PKG_VERSION"));

const INITIAL_BUF: usize = 16 * 1024;
/// A multi-get line may be long (memcached allows it); past this it is abuse.
const MAX_LINE_BUF: usize = 64 << 20;

/// Where one piece of the response comes from, once remote shards are involved.
enum Seg {
    /// Bytes in `side`, produced locally after the first remote op of the batch.
    Local(Range<usize>),
    /// Op `idx` of the batch sent to `shard`.
    Remote { shard: usize, idx: usize },
}

/// What the connection loop should do after handling the buffered input.
#[derive(PartialEq)]
enum Flow {
    Read,
    Close,
}

struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of a refused value still to discard as they arrive.
    swallow: usize,
}

struct Output {
    /// Bytes ready to write, in order.
    out: Vec<u8>,
    /// Local responses that must wait behind remote ones.
    side: Vec<u8>,
    plan: Vec<Seg>,
    batches: Vec<Batch>,
    remote_ops: usize,
}

pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (tx, rx) = local_channel::new_unbounded();
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
    let last_cmd = Rc::new(Cell::new(shard.now_ms.get()));
    let token = shard.register(tx, peer, local, last_cmd.clone());
    ConnCounters::add(&shard.counters.curr_connections, 1);
    ConnCounters::add(&shard.counters.total_connections, 1);
    let mut conn = Conn {
        shard: shard.clone(),
        stream,
        rx,
        token,
        last_cmd,
        input: Input {
            buf: vec![0; INITIAL_BUF],
            start: 0,
            end: 0,
            swallow: 0,
        },
        output: Output {
            out: Vec::with_capacity(INITIAL_BUF),
            side: Vec::new(),
            plan: Vec::new(),
            batches: (0..shard.nshards).map(|_| Batch::default()).collect(),
            remote_ops: 0,
        },
    };
    if let Err(e) = conn.run().await {
        tracing::debug!("connection {peer}: {e}");
    }
    shard.unregister(token);
    let c = &shard.counters.curr_connections;
    c.set(c.get() - 1);
    shard.shared.conns.fetch_sub(1, Ordering::Relaxed);
}

/// Answers a connection over the -c limit the way memcached does, then drops it.
pub async fn reject(shard: Rc<Shard>, mut stream: TcpStream) {
    ConnCounters::add(&shard.counters.rejected_connections, 1);
    let _ = stream
        .write_all(b"ERROR Too many open connections\r\n")
        .await;
    let _ = stream.close().await;
}

struct Conn {
    shard: Rc<Shard>,
    stream: TcpStream,
    rx: LocalReceiver<Reply>,
    token: u64,
    last_cmd: Rc<Cell<u64>>,
    input: Input,
    output: Output,
}

impl Conn {
    async fn run(&mut self) -> std::io::Result<()> {
        loop {
            if !self.read_more().await? {
                return Ok(());
            }
            self.shard.busy.set(self.shard.busy.get() + 1);
            let flow = self.handle_input().await;
            self.finish_batch().await;
            self.shard.log_mutations();
            let written = self.write_out().await;
            self.shard.busy.set(self.shard.busy.get() - 1);
            written?;
            if flow == Flow::Close || self.shard.shared.shutting_down() {
                return Ok(());
            }
            // A client that always has more bytes ready must not starve the others.
            glommio::yield_if_needed().await;
        }
    }

    /// Reads at least one more byte; false at end of stream or on a runaway line.
    async fn read_more(&mut self) -> std::io::Result<bool> {
        let inp = &mut self.input;
        if inp.start == inp.end {
            inp.start = 0;
            inp.end = 0;
            // Give back a buffer grown for one huge value or multi-get.
            if inp.buf.len() > 64 * INITIAL_BUF {
                inp.buf = vec![0; INITIAL_BUF];
            }
        }
        if inp.end == inp.buf.len() {
            if inp.start > 0 {
                inp.buf.copy_within(inp.start..inp.end, 0);
                inp.end -= inp.start;
                inp.start = 0;
            } else {
                if inp.buf.len() >= MAX_LINE_BUF {
                    return Ok(false);
                }
                let len = inp.buf.len() * 2;
                inp.buf.resize(len, 0);
            }
        }
        let n = self.stream.read(&mut inp.buf[inp.end..]).await?;
        if n == 0 {
            return Ok(false);
        }
        ConnCounters::add(&self.shard.counters.bytes_read, n as u64);
        inp.end += n;
        if inp.swallow > 0 {
            let s = inp.swallow.min(inp.end - inp.start);
            inp.start += s;
            inp.swallow -= s;
        }
        Ok(true)
    }

    /// Makes room for a request of `total` bytes that starts at `start`.
    fn reserve(inp: &mut Input, total: usize) {
        if inp.start + total > inp.buf.len() {
            inp.buf.copy_within(inp.start..inp.end, 0);
            inp.end -= inp.start;
            inp.start = 0;
            if total > inp.buf.len() {
                inp.buf.resize(total.next_power_of_two(), 0);
            }
        }
    }

    async fn handle_input(&mut self) -> Flow {
        let shard = self.shard.clone();
        self.last_cmd.set(shard.now_ms.get());
        // Made only once a second request is waiting behind the first, so a connection at
        // depth 1 pays one comparison per request for it.
        let mut ahead: Option<PipelineAhead> = None;
        loop {
            let inp = &mut self.input;
            let out = &mut self.output;
            let parsed = parse(&inp.buf[inp.start..inp.end]);
            if let Parsed::Done { consumed, .. } = parsed {
                let buf = &inp.buf[..inp.end];
                match &mut ahead {
                    Some(a) => a.step(buf, &shard.store.borrow()),
                    None if inp.start + consumed < inp.end => {
                        let (next, store) = (inp.start + consumed, shard.store.borrow());
                        ahead = Some(PipelineAhead::new(
                            buf,
                            next,
                            &store,
                            shard.nshards,
                            shard.id,
                        ));
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
                        Self::reserve(inp, total);
                        return Flow::Read;
                    }
                    out.dispatch(&shard, OpRef::TooLarge { kind, key });
                    if !noreply {
                        out.local_line("SERVER_ERROR object too large for cache");
                    }
                    let avail = inp.end - inp.start;
                    inp.start += total.min(avail);
                    inp.swallow = total.saturating_sub(avail);
                }
                Parsed::Done { consumed, cmd } => {
                    let flow = match cmd {
                        Command::Stats { args } => {
                            let args = args.0.to_vec();
                            self.finish_batch().await;
                            self.stats(Keys(&args)).await;
                            Flow::Read
                        }
                        Command::Shutdown { .. } => {
                            if shard.cfg().shutdown_enabled {
                                tracing::info!("shutdown requested by a client");
                                shard.shared.shutdown.store(true, Ordering::Relaxed);
                                Flow::Close
                            } else {
                                out.local_line("ERROR: shutdown not enabled");
                                Flow::Read
                            }
                        }
                        Command::Quit => Flow::Close,
                        cmd => {
                            out.command(&shard, cmd);
                            Flow::Read
                        }
                    };
                    self.input.start += consumed;
                    if flow == Flow::Close {
                        return flow;
                    }
                }
            }
        }
    }

    /// Sends the remote batches, waits for every reply, and appends all pending responses
    /// to `out` in request order.
    async fn finish_batch(&mut self) {
        let out = &mut self.output;
        if out.plan.is_empty() {
            return;
        }
        let shard = &self.shard;
        let waiting = shard.send_batches(self.token, &mut out.batches).await;
        ConnCounters::add(&shard.counters.remote_batches, waiting as u64);
        ConnCounters::add(&shard.counters.remote_ops, out.remote_ops as u64);
        let mut replies: Vec<Option<Reply>> = (0..shard.nshards).map(|_| None).collect();
        for _ in 0..waiting {
            match self.rx.recv().await {
                Some(r) => {
                    let s = r.shard;
                    replies[s] = Some(r);
                }
                None => break,
            }
        }
        for seg in out.plan.drain(..) {
            match seg {
                Seg::Local(r) => out.out.extend_from_slice(&out.side[r]),
                Seg::Remote { shard, idx } => {
                    if let Some(r) = &replies[shard] {
                        out.out.extend_from_slice(r.part(idx));
                    } else {
                        out.out
                            .extend_from_slice(b"SERVER_ERROR shard unavailable\r\n");
                    }
                }
            }
        }
        out.side.clear();
        out.remote_ops = 0;
    }

    async fn write_out(&mut self) -> std::io::Result<()> {
        let out = &mut self.output.out;
        if out.is_empty() {
            return Ok(());
        }
        ConnCounters::add(&self.shard.counters.bytes_written, out.len() as u64);
        let r = self.stream.write_all(out).await;
        if out.capacity() > 4 * INITIAL_BUF * 64 {
            *out = Vec::with_capacity(INITIAL_BUF);
        } else {
            out.clear();
        }
        r
    }

    /// Asks every shard for its snapshot (one message each) and answers `stats <args>`.
    async fn stats(&mut self, args: Keys<'_>) {
        let shard = self.shard.clone();
        let mut words = args.iter();
        let sub = words.next().unwrap_or(b"");
        if words.next().is_some() && sub != b"detail" {
            self.output.out.extend_from_slice(b"ERROR\r\n");
            return;
        }
        match sub {
            b"" | b"items" | b"slabs" | b"conns" | b"shards" | b"reset" | b"replication" => {}
            b"settings" => {
                stats::write_settings(&mut self.output.out, shard.cfg());
                return;
            }
            b"sizes" => {
                self.output
                    .out
                    .extend_from_slice(b"STAT sizes_status disabled\r\nEND\r\n");
                return;
            }
            b"detail" => {
                write_line(
                    &mut self.output.out,
                    "CLIENT_ERROR usage: stats detail on|off|dump",
                );
                return;
            }
            _ => {
                self.output.out.extend_from_slice(b"ERROR\r\n");
                return;
            }
        }
        let op = if sub == b"reset" {
            OpRef::ResetStats
        } else {
            OpRef::Stats
        };
        let mut snaps: Vec<ShardSnapshot> = Vec::with_capacity(shard.nshards);
        let mut batches: Vec<Batch> = (0..shard.nshards).map(|_| Batch::default()).collect();
        for (s, b) in batches.iter_mut().enumerate() {
            if s != shard.id {
                b.push(op);
            }
        }
        let waiting = shard.send_batches(self.token, &mut batches).await;
        let mut scratch = Vec::new();
        match op {
            OpRef::Stats => snaps.push(shard.snapshot()),
            _ => shard.execute(op, &mut scratch),
        }
        for _ in 0..waiting {
            match self.rx.recv().await {
                Some(mut r) => snaps.append(&mut r.snapshots),
                None => break,
            }
        }
        snaps.sort_by_key(|s| s.shard);
        let out = &mut self.output.out;
        match sub {
            b"reset" => write_line(out, "RESET"),
            b"items" => stats::write_items(out, &snaps),
            b"slabs" => stats::write_slabs(out, &snaps, shard.cfg().page_size()),
            b"shards" => stats::write_shards(out, &snaps),
            b"replication" => {
                stats::write_replication(out, shard.cfg(), shard.shared.repl.as_ref(), &snaps)
            }
            b"conns" => {
                for s in &snaps {
                    out.extend_from_slice(&s.conn_lines);
                }
                out.extend_from_slice(b"END\r\n");
            }
            _ => {
                let cfg = shard.cfg();
                let info = ProcessInfo {
                    pid: std::process::id(),
                    uptime: shard.shared.started.elapsed().as_secs(),
                    now_unix: super::shard::unix_ms() / 1000,
                    version: VERSION,
                    max_connections: cfg.conn_limit,
                    threads: cfg.shards,
                    limit_maxbytes: cfg.memory_limit as u64,
                };
                stats::write_general(out, &info, &snaps);
            }
        }
    }
}

impl Output {
    /// Runs `op` here if this shard owns `key`, else queues it for the owner.
    fn route(&mut self, shard: &Shard, key: &[u8], op: OpRef<'_>) {
        let owner = shard_of(key, shard.nshards);
        if owner == shard.id {
            self.local(shard, op);
        } else {
            let idx = self.batches[owner].push(op);
            self.remote_ops += 1;
            self.plan.push(Seg::Remote { shard: owner, idx });
        }
    }

    fn dispatch(&mut self, shard: &Shard, op: OpRef<'_>) {
        match op.key() {
            Some(key) => self.route(shard, key, op),
            None => self.broadcast(shard, op),
        }
    }

    /// Queues `op` for every other shard and runs it here, keeping per-shard order.
    fn broadcast(&mut self, shard: &Shard, op: OpRef<'_>) {
        for s in (0..shard.nshards).filter(|&s| s != shard.id) {
            let idx = self.batches[s].push(op);
            self.remote_ops += 1;
            self.plan.push(Seg::Remote { shard: s, idx });
        }
        self.local(shard, op);
    }

    /// Executes locally, writing straight to `out` unless remote answers must come first.
    fn local(&mut self, shard: &Shard, op: OpRef<'_>) {
        if self.plan.is_empty() {
            shard.execute(op, &mut self.out);
        } else {
            let start = self.side.len();
            shard.execute(op, &mut self.side);
            self.plan.push(Seg::Local(start..self.side.len()));
        }
    }

    fn local_line(&mut self, line: &str) {
        if self.plan.is_empty() {
            write_line(&mut self.out, line);
        } else {
            let start = self.side.len();
            write_line(&mut self.side, line);
            self.plan.push(Seg::Local(start..self.side.len()));
        }
    }

    /// `lru_crawler`: expired items are reclaimed continuously here, so the crawl controls
    /// are accepted and do nothing; `metadump` lists every live item.
    fn lru_crawler(&mut self, shard: &Shard, args: Keys<'_>) {
        let words: Vec<&[u8]> = args.iter().collect();
        match words.as_slice() {
            [b"metadump", which] => match parse_class_mask(which) {
                Some(classes) => {
                    self.broadcast(shard, OpRef::Dump { classes });
                    self.local_line("END");
                }
                None => self.local_line("BADCLASS invalid class id"),
            },
            [b"crawl", _] | [b"tocrawl", _] | [b"sleep", _] | [b"enable"] | [b"disable"] => {
                self.local_line("OK")
            }
            _ => self.local_line("ERROR"),
        }
    }

    fn command(&mut self, shard: &Shard, cmd: Command<'_>) {
        match cmd {
            Command::Get { keys, cas, touch } => {
                let mut it = keys.iter();
                if let (Some(key), None) = (it.next(), it.next()) {
                    self.route(shard, key, OpRef::Get { key, cas, touch });
                } else {
                    let store = shard.store.borrow();
                    let mut ahead = Lookahead::new(keys.iter(), &store, shard.nshards, shard.id);
                    drop(store);
                    for key in keys.iter() {
                        ahead.step(&shard.store.borrow());
                        self.route(shard, key, OpRef::Get { key, cas, touch });
                    }
                }
                self.local_line("END");
            }
            Command::Store {
                kind,
                key,
                flags,
                exptime,
                data,
                noreply,
            } => {
                if shard.store.borrow().item_fits(key.len(), data.len()) {
                    let op = OpRef::Store {
                        kind,
                        key,
                        flags,
                        exptime,
                        value: data,
                        noreply,
                    };
                    self.route(shard, key, op);
                } else {
                    self.route(shard, key, OpRef::TooLarge { kind, key });
                    if !noreply {
                        self.local_line("SERVER_ERROR object too large for cache");
                    }
                }
            }
            Command::Delete { key, noreply } => {
                self.route(shard, key, OpRef::Delete { key, noreply })
            }
            Command::Arith {
                incr,
                key,
                delta,
                noreply,
            } => self.route(
                shard,
                key,
                OpRef::Arith {
                    incr,
                    key,
                    delta,
                    noreply,
                },
            ),
            Command::Touch {
                key,
                exptime,
                noreply,
            } => self.route(
                shard,
                key,
                OpRef::Touch {
                    key,
                    exptime,
                    noreply,
                },
            ),
            Command::FlushAll { delay, noreply } => {
                ConnCounters::add(&shard.counters.cmd_flush, 1);
                if !shard.cfg().flush_enabled {
                    if !noreply {
                        self.local_line("CLIENT_ERROR flush_all not allowed");
                    }
                    return;
                }
                let Some(delay) = delay else {
                    if !noreply {
                        self.local_line(crate::protocol::text::ERR_EXPTIME);
                    }
                    return;
                };
                self.broadcast(shard, OpRef::Flush { delay });
                if !noreply {
                    self.local_line("OK");
                }
            }
            Command::Version => self.local_line(&format!("VERSION {VERSION}")),
            Command::Verbosity { noreply } => {
                if !noreply {
                    self.local_line("OK");
                }
            }
            Command::LruCrawler { args } => self.lru_crawler(shard, args),
            Command::Error { msg, noreply } => {
                if !noreply {
                    self.local_line(msg);
                }
            }
            Command::Stats { .. } | Command::Quit | Command::Shutdown { .. } => {
                unreachable!("handled by the connection loop")
            }
        }
    }
}

/// "all" or a comma-separated list of class ids (1..=64) as a bit mask.
fn parse_class_mask(which: &[u8]) -> Option<u64> {
    if which == b"all" {
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
