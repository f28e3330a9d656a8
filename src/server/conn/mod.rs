//! The per-connection loop: read, parse every complete request, run local keys at once,
//! send remote keys to their owners in one batch per shard, await those replies together,
//! then write all responses in request order.

mod input;
mod plan;
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

const INITIAL_BUF: usize = 16 * 1024;

/// What the connection loop should do after handling the buffered input.
#[derive(PartialEq)]
enum Flow {
    Read,
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
        input: Input::new(INITIAL_BUF),
        text: Text {
            shard: shard.clone(),
            plan: Plan::new(shard.nshards, INITIAL_BUF),
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
            match self.input.read_from(&mut self.stream).await? {
                0 => return Ok(()),
                n => ConnCounters::add(&self.shard.counters.bytes_read, n as u64),
            }
            if !self.shard.begin_batch() {
                return Ok(());
            }
            let flow = self.handle_input().await;
            self.finish_batch().await;
            self.shard.log_mutations();
            let written = self.write_out().await;
            self.shard.end_batch();
            written?;
            if flow == Flow::Close || self.shard.shared.shutting_down() {
                return Ok(());
            }
            // A client that always has more bytes ready must not starve the others.
            glommio::yield_if_needed().await;
        }
    }

    /// Sends the remote batches, waits for every reply, and appends all pending responses
    /// to `out` in request order.
    async fn finish_batch(&mut self) {
        if !self.text.plan.waiting() {
            return;
        }
        let shard = &self.shard;
        let (batches, ops) = self.text.plan.outgoing();
        let waiting = shard.send_batches(self.token, batches).await;
        ConnCounters::add(&shard.counters.remote_batches, waiting as u64);
        ConnCounters::add(&shard.counters.remote_ops, ops as u64);
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
        self.text.plan.assemble(&replies, render::outcome);
    }

    async fn write_out(&mut self) -> std::io::Result<()> {
        let out = &mut self.text.plan.out;
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
}
