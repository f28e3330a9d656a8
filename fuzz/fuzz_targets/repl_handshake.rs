//! Fuzzes the twin link's handshake as each end reads it (src/replication/frames.rs'
//! FrameReader over an arbitrary stream, arriving a few bytes at a time): the receiving end
//! expects a hello, then data frames; the sending end expects a challenge, a welcome, then
//! acknowledgements. Before the twin is authenticated the reader never offers more than
//! its 4 KiB cap to the socket, whatever a frame announces; after, its buffer grows only
//! with the bytes that arrive; and every write it passes on is within the client limits.
#![no_main]

use corecached::replication::frames::{FrameReader, PRE_AUTH_MAX_FRAME};
use corecached::replication::inbound::decode_run;
use corecached::replication::validate::Limits;
use corecached::replication::wire::{Frame, encode};
use futures_lite::AsyncRead;
use futures_lite::future::block_on;
use libfuzzer_sys::fuzz_target;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What the reader sees as its receive buffer after the handshake, at most: 64 KiB, or
/// twice what has arrived.
const STREAM_BUF: usize = 64 * 1024;

const LIMITS: Limits = Limits {
    max_value: 100,
    now_ms: 1_800_000_000_000,
};

/// A socket that hands out the input `step` bytes at a time and remembers the most room
/// the reader ever offered it.
struct Wire<'a> {
    bytes: &'a [u8],
    step: usize,
    received: usize,
    authenticated: bool,
}

impl AsyncRead for Wire<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.authenticated {
            let bound = STREAM_BUF.max(2 * self.received);
            assert!(
                buf.len() <= bound,
                "offered {} after {}",
                buf.len(),
                self.received
            );
        } else {
            assert!(
                buf.len() <= PRE_AUTH_MAX_FRAME + 8,
                "pre-auth read of {}",
                buf.len()
            );
        }
        let n = self.step.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        self.received += n;
        Poll::Ready(Ok(n))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    let mut wire = Wire {
        bytes: rest,
        step: 1 + usize::from(how >> 1) * 37,
        received: 0,
        authenticated: false,
    };
    if how & 1 == 0 {
        block_on(receiver(&mut wire));
    } else {
        block_on(sender(&mut wire));
    }
});

/// A frame read before authentication is within the cap.
fn small(f: &Frame) {
    // A refusal's reason may grow when made valid UTF-8; its length field was checked.
    if !matches!(f, Frame::Refused { .. }) {
        let mut out = Vec::new();
        encode(&mut out, f);
        assert!(out.len() <= PRE_AUTH_MAX_FRAME + 4);
    }
}

/// The accepting end: a hello, then the twin's stream of writes.
async fn receiver(wire: &mut Wire<'_>) {
    let mut reader = FrameReader::pre_auth();
    match reader.next(wire).await {
        Ok(f @ Frame::Hello { .. }) => small(&f),
        Ok(f) => return small(&f),
        Err(_) => return,
    }
    reader.authenticated();
    wire.authenticated = true;
    // Each fill takes at least a byte or ends the stream.
    for _ in 0..=wire.bytes.len() {
        match reader.fill(wire).await {
            Ok(true) => {}
            _ => return,
        }
        let mut run = Vec::new();
        let Ok(read) = decode_run(reader.pending(), &mut run, &LIMITS) else {
            return;
        };
        for inc in &run {
            if let Some(key) = inc.m.key() {
                assert!((1..=250).contains(&key.len()));
            }
        }
        reader.consume(read.used);
    }
}

/// The connecting end: a challenge, a welcome or a refusal, then acknowledgements, all
/// read under the pre-auth cap.
async fn sender(wire: &mut Wire<'_>) {
    let mut reader = FrameReader::pre_auth();
    match reader.next(wire).await {
        Ok(f @ Frame::Challenge { .. }) => small(&f),
        Ok(f) => return small(&f),
        Err(_) => return,
    }
    match reader.next(wire).await {
        Ok(f @ Frame::Welcome { .. }) => small(&f),
        Ok(f) => return small(&f),
        Err(_) => return,
    }
    for _ in 0..=wire.bytes.len() {
        match reader.next(wire).await {
            Ok(f @ Frame::Ack { .. }) => small(&f),
            Ok(f) => return small(&f),
            Err(_) => return,
        }
    }
}
