//! The twin link on a shard's executor. Outbound: connect to the twin (retrying with
//! backoff), prove the secret, then send either the missed tail of the backlog (partial
//! resync) or a full copy of this shard followed by the tail, then stream new writes.
//! Inbound: accept a twin stream, check its proof, apply every record on the shard that
//! owns its key here, and acknowledge.

use super::wire::{self, DecodeError, Frame, FrameRef};
use super::{LinkState, fill_random};
use crate::record::MutationRef;
use crate::server::router::{Batch, OpRef};
use crate::server::shard::Shard;
use crate::storage::hash_key;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::channels::local_channel;
use glommio::net::{TcpListener, TcpStream};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Bytes of backlog or copy sent per write.
const SEND_CHUNK: usize = 256 * 1024;
/// Items of a full copy read from the store at a time (the store is free between chunks).
const COPY_CHUNK: usize = 512;
/// Bytes of a full copy encoded at a time: bounds one chunk's time when values are large.
const COPY_CHUNK_BYTES: usize = 64 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Reads whole frames from a byte stream.
struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl FrameReader {
    fn new() -> Self {
        FrameReader {
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
    }

    /// The next frame already buffered, if any.
    fn buffered(&mut self) -> Result<Option<Frame>, String> {
        match wire::decode(&self.buf[self.start..self.end]) {
            Ok((f, used)) => {
                self.start += used;
                Ok(Some(f))
            }
            Err(DecodeError::Incomplete) => Ok(None),
            Err(DecodeError::Invalid(why)) => Err(why.to_string()),
        }
    }

    /// Reads more bytes; Ok(false) at end of stream.
    async fn fill<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<bool, String> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let want = (self.buf.len() * 2).min(wire::MAX_FRAME + 8);
            self.buf.resize(want, 0);
        }
        let n = r
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|e| e.to_string())?;
        self.end += n;
        Ok(n > 0)
    }

    async fn next<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<Frame, String> {
        loop {
            if let Some(f) = self.buffered()? {
                return Ok(f);
            }
            if !self.fill(r).await? {
                return Err("link closed by twin".into());
            }
        }
    }
}

/// A handshake step that must finish within HANDSHAKE_TIMEOUT.
async fn with_timeout<T>(
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let expire = async {
        glommio::timer::sleep(HANDSHAKE_TIMEOUT).await;
        Err("handshake timed out".to_string())
    };
    futures_lite::future::or(f, expire).await
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, f: &Frame) -> Result<(), String> {
    let mut out = Vec::new();
    wire::encode(&mut out, f);
    w.write_all(&out).await.map_err(|e| e.to_string())
}

/// Keeps this shard's stream to the twin alive for the life of the process.
pub async fn sender_loop(shard: Rc<Shard>) {
    let Some(cfg) = shard.cfg().repl.clone() else {
        return;
    };
    let mut backoff = Duration::from_millis(50);
    let mut last_error = String::new();
    while !shard.shared.shutting_down() {
        let repl = shard.repl.as_ref().expect("replication state");
        repl.link.set(LinkState::Connecting);
        let addr = match std::net::ToSocketAddrs::to_socket_addrs(&cfg.twin).map(|mut a| a.next()) {
            Ok(Some(a)) => a,
            _ => {
                glommio::timer::sleep(MAX_BACKOFF).await;
                continue;
            }
        };
        let result = match TcpStream::connect(addr).await {
            Ok(stream) => {
                let r = run_outbound(&shard, stream, cfg.secret.as_deref()).await;
                // Back off from a twin that refuses us; come back fast after a working link.
                if repl.link.get() == LinkState::Streaming {
                    backoff = Duration::from_millis(50);
                }
                r
            }
            Err(e) => Err(format!("connect to twin {}: {e}", cfg.twin)),
        };
        if let Err(e) = result {
            // Log a changed reason once, not every retry.
            if e != last_error {
                tracing::warn!("shard {}: twin link: {e}", shard.id);
                last_error = e;
            }
        }
        glommio::timer::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn run_outbound(
    shard: &Rc<Shard>,
    stream: TcpStream,
    secret: Option<&[u8]>,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let repl = shard.repl.as_ref().expect("replication state");
    let node = shard.shared.repl.as_ref().expect("node replication state");
    repl.link.set(LinkState::Handshake);
    let (mut rd, mut wr) = futures_lite::io::split(stream);
    let mut reader = FrameReader::new();
    let challenge = with_timeout(reader.next(&mut rd)).await?;
    let Frame::Challenge { nonce, .. } = challenge else {
        return Err("twin did not send a challenge".into());
    };
    let mac = secret.map_or([0; 32], |s| wire::auth_mac(s, &nonce, node.repl_id));
    let hello = Frame::Hello {
        repl_id: node.repl_id,
        node_id: node.node_id,
        shard: shard.id as u16,
        shards: shard.nshards as u16,
        mac,
    };
    send(&mut wr, &hello).await?;
    let next_seq = match reader.next(&mut rd).await? {
        Frame::Welcome { next_seq } => next_seq,
        Frame::Refused { reason } => return Err(format!("twin refused the link: {reason}")),
        other => return Err(format!("unexpected handshake reply {other:?}")),
    };

    // Acknowledgements arrive on the read half while this task writes; when the read
    // half ends, the link is dead even if nothing is being written.
    let dead = Rc::new(Cell::new(None::<String>));
    let acks = {
        let (shard, dead) = (shard.clone(), dead.clone());
        glommio::spawn_local(async move {
            let why = loop {
                match reader.next(&mut rd).await {
                    Ok(Frame::Ack { seq }) => {
                        let r = shard.repl.as_ref().expect("replication state");
                        r.acked.set(r.acked.get().max(seq));
                    }
                    Ok(_) => break "unexpected frame from twin".to_string(),
                    Err(e) => break e,
                }
            };
            dead.set(Some(why));
            shard.repl.as_ref().expect("replication state").wake();
        })
    };
    let result = stream_to_twin(shard, &mut wr, next_seq, &dead).await;
    drop(acks);
    result
}

async fn stream_to_twin<W: AsyncWrite + Unpin>(
    shard: &Rc<Shard>,
    wr: &mut W,
    twin_next: u64,
    dead: &Cell<Option<String>>,
) -> Result<(), String> {
    let repl = shard.repl.as_ref().expect("replication state");
    let covered = twin_next > 0 && repl.backlog.borrow().covers(twin_next);
    let mut cursor = if covered {
        repl.partial_resyncs.set(repl.partial_resyncs.get() + 1);
        repl.acked.set(twin_next - 1);
        tracing::info!("shard {}: partial resync from seq {twin_next}", shard.id);
        twin_next
    } else {
        repl.full_resyncs.set(repl.full_resyncs.get() + 1);
        repl.link.set(LinkState::FullSync);
        let start = repl.backlog.borrow().next_seq();
        repl.acked.set(start - 1);
        tracing::info!(
            "shard {}: full copy to twin, then the log from seq {start}",
            shard.id
        );
        full_copy(shard, wr).await?;
        send(wr, &Frame::SnapEnd { next_seq: start }).await?;
        start
    };
    repl.link.set(LinkState::Streaming);
    let mut out = Vec::with_capacity(SEND_CHUNK);
    loop {
        if shard.shared.shutting_down() {
            return Ok(());
        }
        if let Some(why) = dead.take() {
            return Err(why);
        }
        let next = {
            let b = repl.backlog.borrow();
            if !b.covers(cursor) {
                return Err(format!(
                    "backlog overrun at seq {cursor}: the twin needs a full copy"
                ));
            }
            out.clear();
            b.read_from(cursor, SEND_CHUNK, &mut out)
        };
        if next == cursor {
            // Nothing new: sleep until a write is logged (or a tick passes, to notice
            // shutdown and a dead link).
            let _ = glommio::timer::timeout(Duration::from_millis(200), async {
                Ok(repl.wake_rx.recv().await)
            })
            .await;
            continue;
        }
        wr.write_all(&out).await.map_err(|e| e.to_string())?;
        repl.records_sent
            .set(repl.records_sent.get() + (next - cursor));
        cursor = next;
        glommio::yield_if_needed().await;
    }
}

/// Sends every live item (and tombstone) of this shard, a chunk at a time, so clients are
/// served between chunks.
async fn full_copy<W: AsyncWrite + Unpin>(shard: &Rc<Shard>, wr: &mut W) -> Result<(), String> {
    send(wr, &Frame::SnapBegin).await?;
    let repl = shard.repl.as_ref().expect("replication state");
    let mut cursor = Some(0u64);
    let mut out = Vec::with_capacity(COPY_CHUNK_BYTES + 4096);
    while let Some(c) = cursor {
        out.clear();
        let (next, n) = shard
            .store
            .borrow()
            .scan(c, COPY_CHUNK, COPY_CHUNK_BYTES, &mut out);
        cursor = next;
        wr.write_all(&out).await.map_err(|e| e.to_string())?;
        repl.records_sent.set(repl.records_sent.get() + n as u64);
        glommio::yield_if_needed().await;
        if shard.shared.shutting_down() {
            return Err("shutting down".into());
        }
    }
    Ok(())
}

/// Accepts twin streams on this shard's replication listener.
pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = shard.clone();
                glommio::spawn_local(async move {
                    let peer = stream
                        .peer_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    if let Err(e) = run_inbound(&shard, stream).await {
                        tracing::info!(
                            "shard {}: inbound twin stream from {peer} ended: {e}",
                            shard.id
                        );
                    }
                })
                .detach();
            }
            Err(e) => {
                tracing::warn!("replication accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
        if shard.shared.shutting_down() {
            return;
        }
    }
}

async fn run_inbound(shard: &Rc<Shard>, mut stream: TcpStream) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let node = shard.shared.repl.as_ref().expect("node replication state");
    let secret = shard.cfg().repl.as_ref().and_then(|r| r.secret.clone());
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut nonce = [0u8; 16];
    fill_random(&mut nonce);
    send(
        &mut stream,
        &Frame::Challenge {
            nonce,
            repl_id: node.repl_id,
            node_id: node.node_id,
        },
    )
    .await?;
    let mut reader = FrameReader::new();
    let hello = with_timeout(reader.next(&mut stream)).await?;
    let Frame::Hello {
        repl_id,
        shard: their_shard,
        mac,
        ..
    } = hello
    else {
        return Err("expected a hello".into());
    };
    if let Some(secret) = &secret
        && wire::auth_mac(secret, &nonce, repl_id) != mac
    {
        tracing::error!("refused twin stream from {peer}: wrong or missing replication secret");
        let reason = "wrong or missing replication secret".to_string();
        send(&mut stream, &Frame::Refused { reason }).await?;
        return Err("refused: bad secret".into());
    }
    let stream_key = (repl_id, their_shard);
    let applied = node.inbound.lock().unwrap().get(&stream_key).copied();
    let next_seq = applied.map_or(0, |s| s + 1);
    send(&mut stream, &Frame::Welcome { next_seq }).await?;

    let (tx, rx) = local_channel::new_unbounded();
    let token = shard.register_waiter(tx);
    let result = async {
        let mut ack = Vec::new();
        let mut batches: Vec<Batch> = (0..shard.nshards).map(|_| Batch::default()).collect();
        let mut spare: Vec<Received<'static>> = Vec::new();
        loop {
            if !reader.fill(&mut stream).await? {
                return Err("link closed by twin".to_string());
            }
            let mut last_seq = None;
            let buf = reader.pending();
            let mut used = 0;
            let mut frames = recycle(std::mem::take(&mut spare));
            loop {
                let (frame, n) = match wire::decode_ref(&buf[used..]) {
                    Ok(f) => f,
                    Err(DecodeError::Incomplete) => break,
                    Err(DecodeError::Invalid(why)) => return Err(why.to_string()),
                };
                used += n;
                frames.push(match frame {
                    FrameRef::Data { seq, m } => {
                        let hash = m.key().map_or(0, hash_key);
                        Received::Data { seq, m, hash }
                    }
                    FrameRef::Control(Frame::SnapBegin) => continue,
                    FrameRef::Control(Frame::SnapEnd { next_seq }) => {
                        Received::SnapEnd { next_seq }
                    }
                    FrameRef::Control(other) => return Err(format!("unexpected frame {other:?}")),
                });
            }
            apply_run(shard, &mut batches, &frames, &mut last_seq);
            spare = recycle(frames);
            reader.consume(used);
            shard.run_batches(token, &rx, &mut batches).await;
            // Reads of a fast stream complete at once; let clients in between batches.
            glommio::yield_if_needed().await;
            if let Some(seq) = last_seq {
                node.inbound.lock().unwrap().insert(stream_key, seq);
                ack.clear();
                wire::encode(&mut ack, &Frame::Ack { seq });
                stream.write_all(&ack).await.map_err(|e| e.to_string())?;
            }
        }
    }
    .await;
    shard.unregister(token);
    result
}

/// A frame of a twin stream that the receiver acts on, borrowing from the receive buffer.
enum Received<'a> {
    Data {
        seq: u64,
        m: MutationRef<'a>,
        /// `hash_key` of its key (0 for a flush): routes it and finds it in the index.
        hash: u64,
    },
    SnapEnd {
        next_seq: u64,
    },
}

/// An empty vector for frames of another buffer, reusing the allocation.
fn recycle<'b>(mut v: Vec<Received<'_>>) -> Vec<Received<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!("cleared")).collect()
}

/// How many records ahead the receiver starts loading index buckets: a twin's writes hit
/// random keys, so each apply would otherwise wait for a cache miss or two.
const PREFETCH_AHEAD: usize = 8;

/// Applies a run of received frames in order; `last_seq` becomes the last sequence number
/// they complete.
fn apply_run(
    shard: &Shard,
    batches: &mut [Batch],
    frames: &[Received<'_>],
    last_seq: &mut Option<u64>,
) {
    let repl = shard.repl.as_ref().expect("replication state");
    let mut applied = 0;
    // The same rule as `shard_of`, from the hash already computed.
    let owner = |hash: u64| (hash % shard.nshards as u64) as usize;
    let ours = |f: &Received<'_>| match f {
        Received::Data { m, hash, .. } if m.key().is_some() && owner(*hash) == shard.id => {
            Some(*hash)
        }
        _ => None,
    };
    let mut store = shard.store.borrow_mut();
    for (i, f) in frames.iter().enumerate() {
        if let Some(h) = frames.get(i + PREFETCH_AHEAD).and_then(ours) {
            store.prefetch(h);
        }
        if let Some(h) = frames.get(i + PREFETCH_AHEAD / 2).and_then(ours) {
            store.prefetch_item(h);
        }
        match *f {
            Received::Data { seq, m, hash } => {
                match m.key() {
                    Some(_) => {
                        let owner = owner(hash);
                        if owner == shard.id {
                            store.apply_remote_hashed(m, hash);
                            applied += 1;
                        } else {
                            batches[owner].push(OpRef::Apply(m));
                        }
                    }
                    None => {
                        // A flush goes to every shard.
                        for (s, b) in batches.iter_mut().enumerate() {
                            if s != shard.id {
                                b.push(OpRef::Apply(m));
                            }
                        }
                        store.apply_remote_hashed(m, hash);
                        applied += 1;
                    }
                }
                if seq > 0 {
                    *last_seq = Some(seq);
                }
            }
            Received::SnapEnd { next_seq } => *last_seq = Some(next_seq - 1),
        }
    }
    repl.records_applied
        .set(repl.records_applied.get() + applied);
}
