//! The per-connection loop: read, parse every complete request, run local keys at once,
//! send remote keys to their owners in one batch per shard, await those replies together,
//! then write all responses in request order. What a connection holds is bounded: parsing
//! stops once the answers held reach `text::OUT_LIMIT` and resumes after they are written,
//! and the buffers shrink back while the connection is idle.

mod auth;
mod binary;
mod dump;
mod handed;
mod input;
mod meta;
mod plan;
mod stats;
mod stream;
mod text;
mod watch;

use super::pool;
use super::router::Reply;
use super::shard::{Seen, Shard};
use crate::config::{Config, Protocol};
use crate::protocol::text::render;
use crate::protocol::text::watch::CloseReason;
use crate::server::handoff::Handoff;
use crate::stats::{ConnCounters, Tally};
use binary::Binary;
use futures_lite::AsyncWriteExt;
use glommio::channels::local_channel::{self, LocalReceiver};
use input::Input;
use plan::Plan;
pub use stats::process_info;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;
pub use stream::{Datagram, Stream};
use text::Text;

pub const VERSION: &str = concat!("1.6.21-corecached-", env!("CARGO_PKG_VERSION"));

/// An output buffer larger than this is freed once written (a big answer does not stay
/// with the connection); smaller ones go back to the shard's pool when it goes idle.
const OUT_KEEP: usize = 64 << 10;
/// Room an output buffer starts with: a burst of pipelined answers without regrowing.
const OUT_START: usize = 16 << 10;

/// The protocol a connection speaks, decided by its first byte as memcached does.
#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Undecided,
    Text,
    /// Text under `-Y`, before a successful login.
    TextLogin,
    Binary,
}

impl Proto {
    /// `None`: a protocol `-B` (or `-S`) turned off, whose connection is closed at once
    /// rather than left waiting for bytes that cannot make a request.
    fn of(first: u8, cfg: &Config) -> Option<Proto> {
        match (first == 0x80, cfg.protocol) {
            (true, Protocol::Ascii) | (false, Protocol::Binary) => None,
            (true, _) => Some(Proto::Binary),
            (false, _) if cfg.auth_file.is_some() => Some(Proto::TextLogin),
            (false, _) => Some(Proto::Text),
        }
    }
}

/// What the connection loop should do after handling the buffered input.
#[derive(PartialEq)]
enum Flow {
    Read,
    /// The output bound was reached: write out, then handle the buffered input again.
    Flush,
    Close,
    /// `watch` of these kinds: once the answers before it are out, the connection
    /// becomes a log stream.
    Watch(u32),
}

pub async fn serve(shard: Rc<Shard>, stream: Stream) {
    let compat = &shard.cfg().compat;
    stream.set_up(compat.ext.idle_timeout);
    let (tx, rx) = local_channel::new_unbounded();
    let (peer, local) = stream.names(compat.unix_socket.as_deref());
    let seen = Rc::new(Seen::new(shard.now_ms.get()));
    let token = shard.register(tx, peer.clone(), local, seen.clone());
    ConnCounters::add(&shard.counters.curr_connections, 1);
    ConnCounters::add(&shard.counters.total_connections, 1);
    let mut conn = Conn::new(shard.clone(), stream, rx, token, seen);
    watch::conn_event(&shard, &conn.stream, token, None);
    let ran = conn.run().await;
    if let Err(e) = &ran {
        if e.kind() == std::io::ErrorKind::TimedOut {
            ConnCounters::add(&shard.counters.idle_kicks, 1);
        }
        tracing::debug!("connection {peer}: {e}");
    }
    // The socket must be ours again before it closes: its number could be reused.
    let _ = conn.take_back().await;
    let reason = close_reason(&ran, conn.protocol_error, shard.shared.shutting_down());
    watch::conn_event(&shard, &conn.stream, token, Some(reason));
    conn.stream.end().await;
    shard.unregister(token);
    let c = &shard.counters.curr_connections;
    c.set(c.get() - 1);
    shard.shared.conn_ended(shard.id);
    drop(conn);
    trim_after_close(c.get());
}

/// Why a connection ended, in memcached's words (for `watch connevents`).
fn close_reason(ran: &std::io::Result<()>, protocol_error: bool, stopping: bool) -> CloseReason {
    match ran {
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => CloseReason::IdleTimeout,
        Err(_) => CloseReason::Error,
        Ok(()) if protocol_error => CloseReason::Error,
        Ok(()) if stopping => CloseReason::Shutdown,
        Ok(()) => CloseReason::Normal,
    }
}

// Closes on this shard since memory was last handed back to the kernel.
thread_local!(static CLOSED: Cell<usize> = const { Cell::new(0) });

/// glibc keeps what connections freed in this thread's arena; without a trim, 20,000
/// connections that came and went stay resident. Trimmed when the shard's last connection
/// closes after a burst, or every TRIM_EVERY closes, so one client reconnecting in a loop
/// does not pay a trim per connection. The trim waits a moment: a socket's own memory is
/// freed when its close completes, after the connection is gone.
fn trim_after_close(open: u64) {
    const BURST: usize = 64;
    const TRIM_EVERY: usize = 1024;
    let closed = CLOSED.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    if closed >= TRIM_EVERY || (open == 0 && closed >= BURST) {
        CLOSED.with(|c| c.set(0));
        glommio::spawn_local(async {
            glommio::timer::sleep(std::time::Duration::from_millis(200)).await;
            // SAFETY: malloc_trim only returns free heap pages to the kernel.
            unsafe { libc::malloc_trim(0) };
        })
        .detach();
    }
}

/// Answers a connection over the -c limit the way memcached does, then drops it.
pub async fn reject(shard: Rc<Shard>, mut stream: Stream) {
    ConnCounters::add(&shard.counters.rejected_connections, 1);
    let mut out = Vec::new();
    render::line(&mut out, render::ERR_TOO_MANY_CONNS);
    let _ = stream.write_all(&out).await;
    let _ = stream.close().await;
}

/// The front ends over UDP: one per UDP socket, answering each request datagram's payload
/// as a connection of its own would (memcached decides the protocol per datagram, and a
/// request cut short is dropped with its datagram). Its replies from other shards come to
/// one token; it is not a client connection, so `stats conns` lists it with the listeners.
pub struct Datagrams {
    conn: Conn,
}

impl Datagrams {
    pub fn new(shard: Rc<Shard>, name: String) -> Self {
        let (tx, rx) = local_channel::new_unbounded();
        let token = shard.register_waiter(tx);
        let seen = Rc::new(Seen::new(shard.now_ms.get()));
        let stream = Stream::Datagram(Datagram {
            name,
            ..Default::default()
        });
        Datagrams {
            conn: Conn::new(shard, stream, rx, token, seen),
        }
    }

    /// Runs the requests in `payload` and returns every reply, in request order.
    pub async fn answer(&mut self, payload: &[u8]) -> Vec<u8> {
        let c = &mut self.conn;
        c.input = Input::new(input::BUF);
        c.proto = Proto::Undecided;
        c.text.resume = None;
        c.bin = Binary::new(c.shard.clone());
        if let Stream::Datagram(d) = &mut c.stream {
            d.input.clear();
            d.input.extend_from_slice(payload);
            d.pos = 0;
        }
        if let Err(e) = c.run().await {
            tracing::debug!("udp request: {e}");
        }
        match &mut c.stream {
            Stream::Datagram(d) => std::mem::take(&mut d.out),
            _ => Vec::new(),
        }
    }
}

impl Drop for Datagrams {
    fn drop(&mut self) {
        self.conn.shard.unregister(self.conn.token);
    }
}

struct Conn {
    shard: Rc<Shard>,
    stream: Stream,
    rx: LocalReceiver<Reply>,
    token: u64,
    seen: Rc<Seen>,
    input: Input,
    text: Text,
    proto: Proto,
    bin: Binary,
    /// The current batch's requests by family, for the latency histograms.
    tally: Tally,
    /// The client sent something memcached closes a connection for.
    protocol_error: bool,
    /// Made on the first handoff (`server::handoff`), kept for the next.
    handoff: Option<Arc<Handoff>>,
    /// A handoff not yet seen to end: the socket is not ours until it has.
    handed: Option<handed::Handed>,
    /// When the current batch of requests began, for latency: the executor's lap reading
    /// (glommio patch 19, no clock read), which the shard's store clock also takes.
    batch_start: Instant,
    /// When this connection last recorded a batch's latency: the lap reading stays the
    /// same for every batch of one turn of the task queue, and a later batch of the same
    /// turn starts where the one before ended.
    last_end: Instant,
}

impl Conn {
    fn new(
        shard: Rc<Shard>,
        stream: Stream,
        rx: LocalReceiver<Reply>,
        token: u64,
        seen: Rc<Seen>,
    ) -> Self {
        Conn {
            shard: shard.clone(),
            stream,
            rx,
            token,
            seen,
            input: Input::new(input::BUF),
            text: Text {
                shard: shard.clone(),
                plan: Plan::new(shard.nshards, 0),
                meta: Default::default(),
                resume: None,
            },
            proto: Proto::Undecided,
            bin: Binary::new(shard.clone()),
            tally: Tally::default(),
            protocol_error: false,
            handoff: None,
            handed: None,
            batch_start: glommio::timer::lap_now(),
            last_end: glommio::timer::lap_now(),
        }
    }

    async fn run(&mut self) -> std::io::Result<()> {
        loop {
            let (plan, bin) = (&mut self.text.plan, &mut self.bin);
            let idle = || {
                pool::give_out(std::mem::take(&mut plan.out), OUT_KEEP);
                plan.shrink(0);
                bin.shrink();
            };
            let read = self.input.read_from(&mut self.stream, idle);
            let n = match (&self.handed, &self.handoff) {
                (Some(_), Some(slot)) => match handed::or_left(read, slot).await {
                    Some(n) => n?,
                    None => {
                        // The owner left bytes the socket would not take: ours to write.
                        self.take_back().await?;
                        continue;
                    }
                },
                _ => read.await?,
            };
            match n {
                0 => return Ok(()),
                n => ConnCounters::add(&self.shard.counters.bytes_read, n as u64),
            }
            if self.text.plan.out.capacity() == 0 {
                self.text.plan.out = pool::take_out(OUT_START);
            }
            // Checked here: making and dropping the future costs more than the check.
            if self.handed.is_some() {
                self.take_back().await?;
            }
            loop {
                if !self.shard.begin_batch() {
                    return Ok(());
                }
                self.serve_here();
                let start = glommio::timer::lap_now().max(self.last_end);
                self.batch_start = start;
                let flow = self.handle_any().await;
                // Boxed: an idle connection's future should not carry this state.
                let finished = match self.text.plan.waiting() {
                    true if self.hand_off(&flow) => Ok(()),
                    true => Box::pin(self.finish_batch()).await,
                    false => Ok(()),
                };
                self.shard.log_mutations();
                let written = self.write_out().await;
                // Empty after a handoff: the owner records those requests.
                if let Some(end) = self.shard.record_latency(&mut self.tally, start) {
                    self.last_end = end;
                }
                self.shard.end_batch();
                finished?;
                written?;
                if let Flow::Watch(kinds) = flow {
                    return self.watch(kinds).await;
                }
                if flow == Flow::Close || self.shard.shared.shutting_down() {
                    return Ok(());
                }
                // A client that always has more bytes ready must not starve the others.
                glommio::yield_if_needed().await;
                if flow == Flow::Read {
                    break;
                }
            }
        }
    }

    /// Makes the ops run from here on count as this connection's (`watch`'s cfd).
    fn serve_here(&self) {
        let id = Shard::conn_id(self.shard.id, self.token);
        self.shard.sink.serving.set(id);
    }

    /// Handles the buffered input in the connection's protocol.
    async fn handle_any(&mut self) -> Flow {
        if self.proto == Proto::Undecided {
            let Some(&first) = self.input.pending().first() else {
                return Flow::Read;
            };
            match Proto::of(first, self.shard.cfg()) {
                Some(p) => self.proto = p,
                None => return Flow::Close,
            }
        }
        if self.proto == Proto::Binary {
            return self.handle_binary().await;
        }
        if self.proto == Proto::TextLogin {
            match self.text_login() {
                (true, _) => self.proto = Proto::Text,
                (false, flow) => return flow,
            }
        }
        self.handle_input().await
    }

    /// Sends the remote batches, waits for every reply, and appends all pending responses
    /// to `out` in request order. An owner that stopped at the reply budget is sent the
    /// rest of its ops once what came back has been written out, round after round.
    async fn finish_batch(&mut self) -> std::io::Result<()> {
        let mut replies: Vec<Option<Reply>> = Vec::new();
        while self.text.plan.waiting() {
            round(
                &self.shard,
                self.token,
                &self.rx,
                &mut self.text.plan,
                &mut replies,
            )
            .await;
            let text::Text { plan, meta, .. } = &mut self.text;
            plan.assemble(&mut replies, |out, o, how| match how {
                meta::How::Text(r) => render::outcome(out, o, r),
                meta::How::Meta(i) => meta.render(out, o, i),
            });
            if plan.waiting() {
                replies.clear();
                self.write_out().await?;
            }
        }
        // Meta requests are kept by index until the last round has answered them.
        self.text.meta.clear();
        Ok(())
    }

    async fn write_out(&mut self) -> std::io::Result<()> {
        let out = &mut self.text.plan.out;
        if out.is_empty() {
            return Ok(());
        }
        ConnCounters::add(&self.shard.counters.bytes_written, out.len() as u64);
        let mut r = self.stream.write_all(out).await;
        if r.is_ok() {
            // TLS holds what write_all took until flushed (a no-op for the other streams).
            r = self.stream.flush().await;
        }
        if out.capacity() > OUT_KEEP {
            *out = Vec::new();
        } else {
            out.clear();
        }
        r
    }
}

impl Drop for Conn {
    /// A connection dropped with a handoff pending (a shard torn down at the end of a
    /// stop's drain time) must not close its socket: the owner may still write to that
    /// number, which a new socket could have taken. It is shut down and left open.
    fn drop(&mut self) {
        if self.handed.is_some() {
            if let Some(fd) = self.stream.raw_fd() {
                // SAFETY: shutdown on the connection's own open socket.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
            }
            let dummy = Stream::Datagram(Datagram::default());
            std::mem::forget(std::mem::replace(&mut self.stream, dummy));
        }
    }
}

/// One round of a reply plan: sends its batches to their owners and collects the replies,
/// `replies[s]` for shard s (`None` where none came).
async fn round<R: Copy>(
    shard: &Shard,
    token: u64,
    rx: &LocalReceiver<Reply>,
    plan: &mut Plan<R>,
    replies: &mut Vec<Option<Reply>>,
) {
    let (batches, ops) = plan.outgoing();
    let waiting = shard.send_batches(token, batches).await;
    ConnCounters::add(&shard.counters.remote_batches, waiting as u64);
    ConnCounters::add(&shard.counters.remote_ops, ops as u64);
    replies.clear();
    replies.resize_with(shard.nshards, || None);
    for _ in 0..waiting {
        match rx.recv().await {
            Some(r) => {
                let s = r.shard;
                replies[s] = Some(r);
            }
            None => break,
        }
    }
}
