//! The sending end of a shard's twin stream: connect to the twin (retrying with backoff),
//! prove the secret, then send either the missed tail of the backlog (partial resync) or a
//! full copy of this shard followed by the tail, then stream new writes as they are logged.

use super::frames::{FrameReader, send, with_timeout};
use super::port::TwinShard;
use super::wire::{self, Frame};
use super::{LinkState, ReplCounters};
use futures_lite::io::ReadHalf;
use futures_lite::{AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Bytes of backlog or copy sent per write.
const SEND_CHUNK: usize = 256 * 1024;
/// A streaming sender that wrote less than HOLD ago holds new records back until HOLD has
/// passed since that write, unless they fill HOLD_BYTES: under load the twin then gets one
/// write per HOLD instead of one per turn of the loop, and every write costs both nodes
/// system calls and the twin a wake-up. A write after a quiet spell goes out at once, so
/// light load pays no delay. HOLD bounds what coalescing adds to the replication lag.
const HOLD: Duration = Duration::from_micros(500);
const HOLD_BYTES: usize = 64 * 1024;
/// Items of a full copy read from the store at a time (the store is free between chunks).
const COPY_CHUNK: usize = 512;
/// Bytes of a full copy encoded at a time: bounds one chunk's time when values are large.
const COPY_CHUNK_BYTES: usize = 64 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The wait between two chunks of a full copy. Any wait sends the shard through its reactor,
/// which yielding alone does not do until glommio's 100 ms preempt timer fires: with a twin
/// that reads as fast as we send, the copy would otherwise keep clients waiting that long.
const COPY_PAUSE: Duration = Duration::from_micros(10);

/// Keeps this shard's stream to the twin alive for the life of the process.
pub async fn sender_loop<S: TwinShard + 'static>(shard: Rc<S>) {
    let twin = shard.twin().twin.clone();
    let mut backoff = Duration::from_millis(50);
    let mut last_error = String::new();
    while !shard.shutting_down() {
        let repl = shard.repl();
        repl.link.set(LinkState::Connecting);
        let addr = match std::net::ToSocketAddrs::to_socket_addrs(&twin).map(|mut a| a.next()) {
            Ok(Some(a)) => a,
            _ => {
                glommio::timer::sleep(MAX_BACKOFF).await;
                continue;
            }
        };
        let result = match TcpStream::connect(addr).await {
            Ok(stream) => {
                let r = run_outbound(&shard, stream).await;
                // Back off from a twin that refuses us; come back fast after a working link.
                if repl.link.get() == LinkState::Streaming {
                    backoff = Duration::from_millis(50);
                }
                r
            }
            Err(e) => Err(format!("connect to twin {twin}: {e}")),
        };
        if let Err(e) = result {
            // Log a changed reason once, not every retry.
            if e != last_error {
                tracing::warn!("shard {}: twin link: {e}", shard.id());
                last_error = e;
            }
        }
        glommio::timer::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn run_outbound<S: TwinShard + 'static>(
    shard: &Rc<S>,
    stream: TcpStream,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    shard.repl().link.set(LinkState::Handshake);
    let (mut rd, mut wr) = futures_lite::io::split(stream);
    // The twin only ever sends handshake frames and acknowledgements: all small.
    let mut reader = FrameReader::pre_auth();
    let next_seq = with_timeout(handshake(&**shard, &mut reader, &mut rd, &mut wr)).await?;
    // Acknowledgements arrive on the read half while this task writes; when the read
    // half ends, the link is dead even if nothing is being written.
    let dead = Rc::new(Cell::new(None::<String>));
    let acks = read_acks(shard.clone(), reader, rd, dead.clone());
    let result = stream_to_twin(&**shard, &mut wr, next_seq, &dead).await;
    drop(acks);
    result
}

/// Answers the twin's challenge with who we are and the proof; returns the sequence
/// number the twin wants next (0: it has nothing of ours).
async fn handshake<S: TwinShard>(
    shard: &S,
    reader: &mut FrameReader,
    rd: &mut ReadHalf<TcpStream>,
    wr: &mut (impl AsyncWrite + Unpin),
) -> Result<u64, String> {
    let node = shard.node();
    let challenge = reader.next(rd).await?;
    let Frame::Challenge { nonce, .. } = challenge else {
        return Err("twin did not send a challenge".into());
    };
    let secret = shard.twin().secret.as_deref();
    let mac = secret.map_or([0; 32], |s| wire::auth_mac(s, &nonce, node.repl_id));
    let hello = Frame::Hello {
        repl_id: node.repl_id,
        node_id: node.node_id,
        shard: shard.id() as u16,
        shards: shard.shards() as u16,
        mac,
    };
    send(wr, &hello).await?;
    match reader.next(rd).await? {
        Frame::Welcome { next_seq } => Ok(next_seq),
        Frame::Refused { reason } => Err(format!("twin refused the link: {reason}")),
        other => Err(format!("unexpected handshake reply {other:?}")),
    }
}

/// Records the twin's acknowledgements until the read half ends, then leaves the reason
/// in `dead` and wakes the sender. Dropping the task stops it.
fn read_acks<S: TwinShard + 'static>(
    shard: Rc<S>,
    mut reader: FrameReader,
    mut rd: ReadHalf<TcpStream>,
    dead: Rc<Cell<Option<String>>>,
) -> glommio::Task<()> {
    glommio::spawn_local(async move {
        let why = loop {
            match reader.next(&mut rd).await {
                Ok(Frame::Ack { seq }) => {
                    let r = shard.repl();
                    r.acked.set(r.acked.get().max(seq));
                }
                Ok(_) => break "unexpected frame from twin".to_string(),
                Err(e) => break e,
            }
        };
        dead.set(Some(why));
        shard.repl().wake();
    })
}

async fn stream_to_twin<S: TwinShard, W: AsyncWrite + Unpin>(
    shard: &S,
    wr: &mut W,
    twin_next: u64,
    dead: &Cell<Option<String>>,
) -> Result<(), String> {
    let repl = shard.repl();
    let mut cursor = resync(shard, wr, twin_next).await?;
    repl.link.set(LinkState::Streaming);
    let mut out = Vec::with_capacity(SEND_CHUNK);
    let mut last_write: Option<Instant> = None;
    loop {
        if shard.shutting_down() {
            return Ok(());
        }
        if let Some(why) = dead.take() {
            return Err(why);
        }
        let (next, more) = {
            let b = repl.backlog.borrow();
            if !b.covers(cursor) {
                return Err(format!(
                    "backlog overrun at seq {cursor}: the twin needs a full copy"
                ));
            }
            out.clear();
            let next = b.read_from(cursor, SEND_CHUNK, &mut out);
            (next, next < b.next_seq())
        };
        if next == cursor {
            // Nothing new: sleep until a write is logged or the ack reader finds the link
            // dead (both wake us). Shutdown needs no wake: the stopping shard drops this
            // task with its executor.
            repl.wake_rx.recv().await;
            continue;
        }
        if let Some(wait) = hold_left(last_write, more, out.len()) {
            // Records logged meanwhile join this write; `out` is read again after.
            glommio::timer::sleep(wait).await;
            continue;
        }
        wr.write_all(&out).await.map_err(|e| e.to_string())?;
        last_write = Some(Instant::now());
        ReplCounters::add(&repl.counters.records_sent, next - cursor);
        cursor = next;
        glommio::yield_if_needed().await;
    }
}

/// How much longer records read for a write should wait for company: none after a quiet
/// spell (no write within HOLD), nor when they fill HOLD_BYTES or more are waiting behind.
fn hold_left(last_write: Option<Instant>, more: bool, bytes: usize) -> Option<Duration> {
    if more || bytes >= HOLD_BYTES {
        return None;
    }
    let left = HOLD.checked_sub(last_write?.elapsed())?;
    (!left.is_zero()).then_some(left)
}

/// Brings the twin up to the backlog: nothing to send if the backlog still covers what it
/// wants (partial resync), else a full copy. Returns the sequence to stream from.
async fn resync<S: TwinShard, W: AsyncWrite + Unpin>(
    shard: &S,
    wr: &mut W,
    twin_next: u64,
) -> Result<u64, String> {
    let repl = shard.repl();
    let covered = twin_next > 0 && repl.backlog.borrow().covers(twin_next);
    if covered {
        ReplCounters::add(&repl.counters.partial_resyncs, 1);
        repl.acked.set(twin_next - 1);
        tracing::info!("shard {}: partial resync from seq {twin_next}", shard.id());
        return Ok(twin_next);
    }
    ReplCounters::add(&repl.counters.full_resyncs, 1);
    repl.link.set(LinkState::FullSync);
    let start = repl.backlog.borrow().next_seq();
    repl.acked.set(start - 1);
    tracing::info!(
        "shard {}: full copy to twin, then the log from seq {start}",
        shard.id()
    );
    full_copy(shard, wr).await?;
    send(wr, &Frame::SnapEnd { next_seq: start }).await?;
    Ok(start)
}

/// Sends every live item (and tombstone) of this shard, a chunk at a time, so clients are
/// served between chunks.
async fn full_copy<S: TwinShard, W: AsyncWrite + Unpin>(
    shard: &S,
    wr: &mut W,
) -> Result<(), String> {
    send(wr, &Frame::SnapBegin).await?;
    let repl = shard.repl();
    let mut cursor = Some(0u64);
    let mut out = Vec::with_capacity(COPY_CHUNK_BYTES + 4096);
    while let Some(c) = cursor {
        out.clear();
        let (next, n) = shard.scan(c, COPY_CHUNK, COPY_CHUNK_BYTES, &mut out);
        cursor = next;
        wr.write_all(&out).await.map_err(|e| e.to_string())?;
        ReplCounters::add(&repl.counters.records_sent, n as u64);
        glommio::timer::sleep(COPY_PAUSE).await;
        if shard.shutting_down() {
            return Err("shutting down".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_wait_only_right_after_a_write_and_only_while_few() {
        assert_eq!(hold_left(None, false, 10), None, "first write of a link");
        let long_ago = Instant::now() - HOLD * 2;
        assert_eq!(
            hold_left(Some(long_ago), false, 10),
            None,
            "after a quiet spell"
        );
        let just_now = Some(Instant::now());
        let left = hold_left(just_now, false, 10).expect("right after a write");
        assert!(left <= HOLD && !left.is_zero());
        assert_eq!(hold_left(just_now, false, HOLD_BYTES), None, "enough bytes");
        assert_eq!(hold_left(just_now, true, 10), None, "more waiting behind");
    }
}
