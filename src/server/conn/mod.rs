//! The per-connection loop: read, parse every complete request, run local keys at once,
//! send remote keys to their owners in one batch per shard, await those replies together,
//! then write all responses in request order. What a connection holds is bounded: parsing
//! stops once the answers held reach `text::OUT_LIMIT` and resumes after they are written,
//! and the buffers shrink back while the connection is idle.

mod input;
mod plan;
mod pool;
mod stats;
mod text;

use super::router::Reply;
use super::shard::Shard;
use crate::protocol::text::render;
use crate::stats::ConnCounters;
use futures_lite::AsyncWriteExt;
use glommio::channels::local_channel::{self, LocalReceiver};
use glommio::net::TcpStream;
use input::Input;
use plan::Plan;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use text::Text;

pub const VERSION: &str = concat!("1.6.21-corecached-", env!("CARGO_PKG_VERSION"));

/// An output buffer larger than this is freed once written (a big answer does not stay
/// with the connection); smaller ones go back to the shard's pool when it goes idle.
const OUT_KEEP: usize = 64 << 10;
/// Room an output buffer starts with: a burst of pipelined answers without regrowing.
const OUT_START: usize = 16 << 10;

/// What the connection loop should do after handling the buffered input.
#[derive(PartialEq)]
enum Flow {
    Read,
    /// The output bound was reached: write out, then handle the buffered input again.
    Flush,
    Close,
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
        input: Input::new(input::BUF),
        text: Text {
            shard: shard.clone(),
            plan: Plan::new(shard.nshards, 0),
            resume: None,
        },
    };
    if let Err(e) = conn.run().await {
        tracing::debug!("connection {peer}: {e}");
    }
    shard.unregister(token);
    let c = &shard.counters.curr_connections;
    c.set(c.get() - 1);
    shard.shared.conns.fetch_sub(1, Ordering::Relaxed);
    drop(conn);
    trim_after_close(c.get());
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
pub async fn reject(shard: Rc<Shard>, mut stream: TcpStream) {
    ConnCounters::add(&shard.counters.rejected_connections, 1);
    let mut out = Vec::new();
    render::line(&mut out, render::ERR_TOO_MANY_CONNS);
    let _ = stream.write_all(&out).await;
    let _ = stream.close().await;
}

struct Conn {
    shard: Rc<Shard>,
    stream: TcpStream,
    rx: LocalReceiver<Reply>,
    token: u64,
    last_cmd: Rc<Cell<u64>>,
    input: Input,
    text: Text,
}

impl Conn {
    async fn run(&mut self) -> std::io::Result<()> {
        loop {
            let plan = &mut self.text.plan;
            let idle = || {
                pool::give_out(std::mem::take(&mut plan.out), OUT_KEEP);
                plan.shrink(0);
            };
            match self.input.read_from(&mut self.stream, idle).await? {
                0 => return Ok(()),
                n => ConnCounters::add(&self.shard.counters.bytes_read, n as u64),
            }
            if self.text.plan.out.capacity() == 0 {
                self.text.plan.out = pool::take_out(OUT_START);
            }
            loop {
                self.shard.busy.set(self.shard.busy.get() + 1);
                let flow = self.handle_input().await;
                // Boxed: an idle connection's future should not carry this state.
                let finished = match self.text.plan.waiting() {
                    true => Box::pin(self.finish_batch()).await,
                    false => Ok(()),
                };
                self.shard.log_mutations();
                let written = self.write_out().await;
                self.shard.busy.set(self.shard.busy.get() - 1);
                finished?;
                written?;
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

    /// Sends the remote batches, waits for every reply, and appends all pending responses
    /// to `out` in request order. An owner that stopped at the reply budget is sent the
    /// rest of its ops once what came back has been written out, round after round.
    async fn finish_batch(&mut self) -> std::io::Result<()> {
        let mut replies: Vec<Option<Reply>> = Vec::new();
        while self.text.plan.waiting() {
            let shard = &self.shard;
            let (batches, ops) = self.text.plan.outgoing();
            let waiting = shard.send_batches(self.token, batches).await;
            ConnCounters::add(&shard.counters.remote_batches, waiting as u64);
            ConnCounters::add(&shard.counters.remote_ops, ops as u64);
            replies.clear();
            replies.resize_with(shard.nshards, || None);
            for _ in 0..waiting {
                match self.rx.recv().await {
                    Some(r) => {
                        let s = r.shard;
                        replies[s] = Some(r);
                    }
                    None => break,
                }
            }
            self.text.plan.assemble(&mut replies, render::outcome);
            if self.text.plan.waiting() {
                replies.clear();
                self.write_out().await?;
            }
        }
        Ok(())
    }

    async fn write_out(&mut self) -> std::io::Result<()> {
        let out = &mut self.text.plan.out;
        if out.is_empty() {
            return Ok(());
        }
        ConnCounters::add(&self.shard.counters.bytes_written, out.len() as u64);
        let r = self.stream.write_all(out).await;
        if out.capacity() > OUT_KEEP {
            *out = Vec::new();
        } else {
            out.clear();
        }
        r
    }
}
