//! The receiving end of twin streams: accept a stream on the replication listener, check
//! the twin's proof, hand each read's writes to the shard to apply where their keys live,
//! and acknowledge what they complete.

use super::fill_random;
use super::frames::{FrameReader, send, with_timeout};
use super::port::{ApplyRecords, Incoming, TwinShard};
use super::wire::{self, DecodeError, Frame, FrameRef};
use futures_lite::AsyncWriteExt;
use glommio::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

/// Accepts twin streams on this shard's replication listener.
pub async fn accept_loop<S: TwinShard + 'static>(shard: Rc<S>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = shard.clone();
                glommio::spawn_local(async move {
                    let peer = stream
                        .peer_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    if let Err(e) = run_inbound(&*shard, stream).await {
                        tracing::info!(
                            "shard {}: inbound twin stream from {peer} ended: {e}",
                            shard.id()
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
        if shard.shutting_down() {
            return;
        }
    }
}

async fn run_inbound<S: TwinShard>(shard: &S, mut stream: TcpStream) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let mut reader = FrameReader::pre_auth();
    let stream_key = with_timeout(handshake(shard, &mut reader, &mut stream)).await?;
    reader.authenticated();
    let node = shard.node();
    let mut applier = shard.applier();
    let mut ack = Vec::new();
    let mut spare: Vec<Incoming<'static>> = Vec::new();
    loop {
        if !reader.fill(&mut stream).await? {
            return Err("link closed by twin".to_string());
        }
        let mut run = recycle(std::mem::take(&mut spare));
        let (used, last_seq) = decode_run(reader.pending(), &mut run)?;
        if !run.is_empty() {
            applier.apply(&run).await;
        }
        spare = recycle(run);
        reader.consume(used);
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

/// Challenges the twin, checks its proof and welcomes it from what this node has of its
/// stream; returns the stream's key in `NodeRepl::inbound`.
async fn handshake<S: TwinShard>(
    shard: &S,
    reader: &mut FrameReader,
    stream: &mut TcpStream,
) -> Result<(u64, u16), String> {
    let node = shard.node();
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
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
    let applied = node.inbound.lock().unwrap().get(&stream_key).copied();
    let next_seq = applied.map_or(0, |s| s + 1);
    send(stream, &Frame::Welcome { next_seq }).await?;
    Ok(stream_key)
}

/// Decodes the whole frames at the start of `buf`, appending their writes to `run` in
/// order; returns the bytes they take and the last sequence number they complete (a copy's
/// items carry none; its end completes the one before the log resumes).
fn decode_run<'a>(
    buf: &'a [u8],
    run: &mut Vec<Incoming<'a>>,
) -> Result<(usize, Option<u64>), String> {
    let mut used = 0;
    let mut last_seq = None;
    loop {
        let (frame, n) = match wire::decode_ref(&buf[used..]) {
            Ok(f) => f,
            Err(DecodeError::Incomplete) => break,
            Err(DecodeError::Invalid(why)) => return Err(why.to_string()),
        };
        used += n;
        match frame {
            FrameRef::Data { seq, m } => {
                run.push(Incoming::new(m));
                if seq > 0 {
                    last_seq = Some(seq);
                }
            }
            FrameRef::Control(Frame::SnapBegin) => {}
            FrameRef::Control(Frame::SnapEnd { next_seq }) => last_seq = Some(next_seq - 1),
            FrameRef::Control(other) => return Err(format!("unexpected frame {other:?}")),
        }
    }
    Ok((used, last_seq))
}

/// An empty vector for writes borrowed from another buffer, reusing the allocation.
fn recycle<'b>(mut v: Vec<Incoming<'_>>) -> Vec<Incoming<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!("cleared")).collect()
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;
