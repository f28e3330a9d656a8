//! A connection that sent `watch`: from its `OK` on it is a log stream. It stops reading
//! requests (what the client sends is read and dropped, so a close is seen at once) and
//! writes out its watcher's queue whenever a shard queues lines and wakes it. Also the connection events
//! every connection reports when it opens and closes.

use super::text::Text;
use super::{Conn, Flow, Stream};
use crate::protocol::text::render;
use crate::protocol::text::watch::{CONNEVENTS, CloseReason, Event, MAX_WATCHERS, Peer, Transport};
use crate::server::shard::Shard;
use crate::server::watch::Watcher;
use crate::stats::ConnCounters;
use futures_lite::{AsyncRead, AsyncWriteExt, future};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

impl Text {
    /// `watch`: a refusal in its place among the answers, or `Flow::Watch` once every
    /// answer before it has been written.
    pub(super) fn watch_request(&mut self, kinds: Option<u32>) -> Flow {
        let shard = &self.shard;
        let refusal = if !shard.cfg().compat.watch_enabled {
            render::ERR_WATCH_DISABLED
        } else if !self.plan.out.is_empty() || self.plan.waiting() {
            render::ERR_WATCH_PIPELINED
        } else if kinds.is_none() {
            render::ERROR
        } else if shard.shared.watch.count() >= MAX_WATCHERS {
            render::ERR_WATCH_TOO_MANY
        } else {
            return Flow::Watch(kinds.unwrap_or(0));
        };
        self.line(refusal);
        Flow::Read
    }
}

impl Conn {
    /// Streams the lines of the kinds asked for until the client goes (or the server
    /// stops, which drops this task). One future per watcher for its whole life: it polls
    /// the queue and the client's socket together, so nothing is cancelled per event.
    pub(super) async fn watch(&mut self, kinds: u32) -> io::Result<()> {
        let shard = self.shard.clone();
        let limit = shard.cfg().compat.ext.watcher_logbuf_size;
        let Ok(w) = shard.shared.watch.add(kinds, limit) else {
            let mut out = Vec::new();
            render::line(&mut out, render::ERR_WATCH_TOO_MANY);
            return self.stream.write_all(&out).await;
        };
        let (mut out, mut drop_in) = (Vec::new(), [0u8; 512]);
        let r = loop {
            out.clear();
            let next = future::poll_fn(|cx| next(&w, &mut self.stream, &mut out, &mut drop_in, cx));
            match next.await {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
            ConnCounters::add(&shard.counters.bytes_written, out.len() as u64);
            if let Err(e) = self.stream.write_all(&out).await {
                break Err(e);
            }
        };
        shard.shared.watch.remove(&w);
        r
    }
}

/// Ready with true once `out` holds lines to write, false when the client has gone. What
/// a watcher's client sends is read and dropped (memcached ignores it too): reading is how
/// its close is seen while nothing is queued.
fn next(
    w: &Watcher,
    stream: &mut Stream,
    out: &mut Vec<u8>,
    drop_in: &mut [u8],
    cx: &mut Context<'_>,
) -> Poll<io::Result<bool>> {
    loop {
        if w.poll_take(out, cx).is_ready() {
            return Poll::Ready(Ok(true));
        }
        match Pin::new(&mut *stream).poll_read(cx, drop_in) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(false)),
            Poll::Ready(Ok(_)) => {}
            // -o idle_timeout is for clients that send requests.
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// `watch connevents`: connection `token` of `shard` opened (`close` None) or closed.
pub(super) fn conn_event(shard: &Shard, stream: &Stream, token: u64, close: Option<CloseReason>) {
    let watch = &shard.shared.watch;
    if watch.kinds() & CONNEVENTS == 0 {
        return;
    }
    let tcp = match stream {
        Stream::Tcp(s) => Some(s),
        Stream::Tls(s) => Some(s.get_ref().0),
        Stream::Unix(_) | Stream::Datagram(_) => None,
    };
    let (rip, rport, transport) = match (tcp, stream) {
        (Some(s), _) => match s.peer_addr() {
            Ok(a) => (a.ip().to_string(), a.port(), Transport::Tcp),
            Err(_) => (String::new(), 0, Transport::Tcp),
        },
        (None, Stream::Unix(_)) => ("unix".to_string(), 0, Transport::Local),
        (None, _) => (String::new(), 0, Transport::Udp),
    };
    let peer = Peer {
        rip: &rip,
        rport,
        transport,
    };
    let cfd = Shard::conn_id(shard.id, token);
    let e = match close {
        None => Event::ConnNew { peer, cfd },
        Some(reason) => Event::ConnClose { peer, reason, cfd },
    };
    shard.sink.emit(watch, &e);
    shard.sink.flush(watch);
}
