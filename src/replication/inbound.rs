//! The receiving end of twin streams: accept a stream on the replication listener, with
//! `--repl-tls` verify the twin's certificate, check the twin's proof, hand each read's
//! writes to the shard to apply where their keys live, and acknowledge what they complete.

use super::admit;
use super::fill_random;
use super::frames::{FrameReader, by_deadline, handshake_deadline, send, write_out};
use super::port::{ApplyRecords, Incoming, TwinShard};
use super::tls::{LinkStream, LinkTls};
use super::validate::{Limits, MAX_AHEAD_MS, Refusal};
use super::wire::{self, DecodeError, Frame, FrameRef};
use super::{NodeRepl, ReplCounters};
use crate::storage::unix_ms;
use glommio::net::{TcpListener, TcpStream};
use std::os::unix::io::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

/// Accepts twin streams on this shard's replication listener.
pub async fn accept_loop<S: TwinShard + 'static>(shard: Rc<S>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => match shard.node().links.try_pending() {
                // Closed before a challenge: an idle flood costs one accept each.
                None => {
                    refused(&*shard, admit::Refusal::Pending);
                    drop(stream);
                }
                Some(slot) => {
                    let shard = shard.clone();
                    glommio::spawn_local(async move {
                        let peer = stream
                            .peer_addr()
                            .map(|a| a.to_string())
                            .unwrap_or_default();
                        if let Err(e) = run_inbound(&*shard, stream, slot).await {
                            tracing::info!(
                                "shard {}: inbound twin stream from {peer} ended: {e}",
                                shard.id()
                            );
                        }
                    })
                    .detach();
                }
            },
            Err(e) => {
                tracing::warn!("replication accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
        if shard.shutting_down() {
            return;
        }
    }
}

/// Counts a connection turned away by the port's limits; logs once per burst.
fn refused<S: TwinShard>(shard: &S, why: admit::Refusal) {
    ReplCounters::add(&shard.repl().counters.links_refused, 1);
    if shard.node().links.warn_due(unix_ms()) {
        tracing::warn!(
            "shard {}: refusing replication connections: {} (counted in links_refused, \
             logged once per burst)",
            shard.id(),
            why.reason()
        );
    }
}

/// Counts and logs a connection whose TLS session failed: not TLS, or a certificate that
/// does not verify. Logged once per reason per while, since the twin keeps retrying.
fn refused_tls<S: TwinShard>(shard: &S, tls: &LinkTls, peer: &str, why: &str) {
    ReplCounters::add(&shard.repl().counters.tls_refused, 1);
    if tls.warn_due(why, unix_ms()) {
        let hint = if why.contains("timed out") {
            " (no TLS session within the handshake's 5 s: a twin without --repl-tls?)"
        } else if why.contains("eof") {
            " (the twin hung up first: it may have refused this node's certificate, or it \
             runs without --repl-tls and gave up on its own handshake)"
        } else {
            ""
        };
        tracing::warn!(
            "refused twin stream from {peer}: {why}{hint} (counted in tls_refused; the twin \
             retries)"
        );
    }
}

const SUPERSEDED: &str = "superseded by a newer link of the same stream";

/// Runs one inbound stream; `slot` is its place among connections in their handshake.
async fn run_inbound<S: TwinShard>(
    shard: &S,
    tcp: TcpStream,
    slot: admit::PendingSlot,
) -> Result<(), String> {
    let _ = tcp.set_nodelay(true);
    let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let fd = tcp.as_raw_fd();
    let deadline = handshake_deadline();
    let mut stream = match &shard.twin().tls {
        None => LinkStream::Plain(tcp),
        Some(tls) => by_deadline(deadline, tls.accept(tcp))
            .await
            .inspect_err(|e| refused_tls(shard, tls, &peer, e))?,
    };
    let mut reader = FrameReader::pre_auth();
    // Declared after `stream`, so dropped before it, as `go_live` requires.
    let (stream_key, live) = by_deadline(
        deadline,
        handshake(shard, &mut reader, &mut stream, &peer, fd),
    )
    .await?;
    drop(slot);
    reader.authenticated();
    let node = shard.node();
    let mut applier = shard.applier();
    let mut ack = Vec::new();
    let mut spare: Vec<Incoming<'static>> = Vec::new();
    let mut warned_versions = false;
    loop {
        let more = reader.fill(&mut stream).await?;
        if live.superseded() {
            return Err(SUPERSEDED.into());
        }
        if !more {
            return Err("link closed by twin".to_string());
        }
        let mut run = recycle(std::mem::take(&mut spare));
        let limits = Limits {
            max_value: shard.max_value(),
            now_ms: unix_ms(),
        };
        let counters = &shard.repl().counters;
        let read = decode_run(reader.pending(), &mut run, &limits).inspect_err(|_| {
            ReplCounters::add(&counters.frames_refused, 1);
        })?;
        if read.versions_refused > 0 {
            ReplCounters::add(&counters.versions_refused, read.versions_refused);
            if !std::mem::replace(&mut warned_versions, true) {
                tracing::warn!(
                    "shard {}: refused twin writes versioned more than {MAX_AHEAD_MS} ms ahead \
                     of this node's clock (counted in versions_refused)",
                    shard.id()
                );
            }
        }
        if !run.is_empty() {
            applier.apply(&run).await;
        }
        spare = recycle(run);
        reader.consume(read.used);
        // Reads of a fast stream complete at once; let clients in between batches.
        glommio::yield_if_needed().await;
        if let Some(seq) = read.last_seq {
            record_applied(node, stream_key, &live, seq)?;
            ack.clear();
            wire::encode(&mut ack, &Frame::Ack { seq });
            write_out(&mut stream, &ack).await?;
        }
    }
}

/// Records that this link applied the twin's stream `key` up to `seq`; Err if a newer link
/// took the stream over. Checked under the lock a newer link reads the applied sequence
/// under, so once it has read, this link records nothing more.
fn record_applied(
    node: &NodeRepl,
    key: (u64, u16),
    live: &admit::LiveSlot,
    seq: u64,
) -> Result<(), String> {
    let mut inbound = node.inbound.lock().unwrap();
    if live.superseded() {
        return Err(SUPERSEDED.into());
    }
    inbound.insert(key, seq);
    Ok(())
}

/// Challenges the twin, checks its proof and welcomes it from what this node has of its
/// stream; returns the stream's key in `NodeRepl::inbound` and its place among live streams.
async fn handshake<S: TwinShard>(
    shard: &S,
    reader: &mut FrameReader,
    stream: &mut LinkStream,
    peer: &str,
    fd: RawFd,
) -> Result<((u64, u16), admit::LiveSlot), String> {
    let node = shard.node();
    let mut nonce = [0u8; 16];
    fill_random(&mut nonce);
    let challenge = Frame::Challenge {
        nonce,
        repl_id: node.repl_id,
        node_id: node.node_id,
    };
    send(stream, &challenge).await?;
    let hello = reader.next(stream).await?;
    let Frame::Hello {
        repl_id,
        shard: their_shard,
        mac,
        ..
    } = hello
    else {
        return Err("expected a hello".into());
    };
    if let Some(secret) = &shard.twin().secret
        && wire::auth_mac(secret, &nonce, repl_id) != mac
    {
        tracing::error!("refused twin stream from {peer}: wrong or missing replication secret");
        let reason = "wrong or missing replication secret".to_string();
        send(stream, &Frame::Refused { reason }).await?;
        return Err("refused: bad secret".into());
    }
    let stream_key = (repl_id, their_shard);
    // Before the applied sequence is read: a link this one supersedes stops updating it.
    let live = match node.links.go_live(stream_key, fd) {
        Ok(live) => live,
        Err(why) => {
            refused(shard, why);
            let reason = why.reason().to_string();
            send(stream, &Frame::Refused { reason }).await?;
            return Err(format!("refused: {}", why.reason()));
        }
    };
    let applied = node.inbound.lock().unwrap().get(&stream_key).copied();
    let next_seq = applied.map_or(0, |s| s + 1);
    send(stream, &Frame::Welcome { next_seq }).await?;
    Ok((stream_key, live))
}

/// What one read of a twin stream decoded to.
#[derive(Debug, PartialEq, Eq)]
pub struct Read {
    /// Bytes of whole frames taken.
    pub used: usize,
    /// The last sequence number they complete (a copy's items carry none; its end completes
    /// the one before the log resumes).
    pub last_seq: Option<u64>,
    /// Writes left out of the run for a version too far ahead.
    pub versions_refused: u64,
}

/// Decodes the whole frames at the start of `buf`, appending the writes that pass `limits`
/// to `run` in order. Err (a broken or forged twin: close the link, apply nothing of this
/// read) for a malformed or unexpected frame. Public for the fuzz targets (fuzz/).
pub fn decode_run<'a>(
    buf: &'a [u8],
    run: &mut Vec<Incoming<'a>>,
    limits: &Limits,
) -> Result<Read, String> {
    let mut read = Read {
        used: 0,
        last_seq: None,
        versions_refused: 0,
    };
    loop {
        let (frame, n) = match wire::decode_ref(&buf[read.used..]) {
            Ok(f) => f,
            Err(DecodeError::Incomplete) => break,
            Err(DecodeError::Invalid(why)) => return Err(format!("refused a bad frame: {why}")),
        };
        read.used += n;
        match frame {
            FrameRef::Data { seq, m } => {
                match limits.check(&m) {
                    Ok(()) => run.push(Incoming::new(m)),
                    Err(Refusal::Version) => read.versions_refused += 1,
                    Err(Refusal::Frame(why)) => return Err(format!("refused a bad frame: {why}")),
                }
                if seq > 0 {
                    read.last_seq = Some(seq);
                }
            }
            FrameRef::Control(Frame::SnapBegin) => {}
            FrameRef::Control(Frame::SnapEnd { next_seq: 0 }) => {
                return Err("refused a bad frame: a copy's end before sequence 1".into());
            }
            FrameRef::Control(Frame::SnapEnd { next_seq }) => read.last_seq = Some(next_seq - 1),
            FrameRef::Control(other) => {
                return Err(format!("refused a bad frame: unexpected frame {other:?}"));
            }
        }
    }
    Ok(read)
}

/// An empty vector for writes borrowed from another buffer, reusing the allocation.
fn recycle<'b>(mut v: Vec<Incoming<'_>>) -> Vec<Incoming<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!("cleared")).collect()
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;
