//! The twin link's wire format: length-prefixed frames, little-endian. Pure encode/decode,
//! no I/O, so it is unit-tested (and fuzzable) on its own.
//!
//! Frame: `len: u32` (bytes after this field) | `kind: u8` | payload.

use crate::record::{self, Mutation, MutationRef, Reader};

pub const MAGIC: &[u8; 4] = b"CCR1";
/// A frame larger than this is a protocol error (the largest item is 128 MiB).
pub const MAX_FRAME: usize = (128 << 20) + 4096;

pub mod kind {
    pub const CHALLENGE: u8 = 1;
    pub const HELLO: u8 = 2;
    pub const WELCOME: u8 = 3;
    pub const REFUSED: u8 = 4;
    // Data frames are the store's mutation log records as they are.
    pub const SET: u8 = crate::record::SET;
    pub const DELETE: u8 = crate::record::DELETE;
    pub const FLUSH: u8 = crate::record::FLUSH;
    pub const MARK: u8 = crate::record::MARK;
    pub const SNAP_BEGIN: u8 = 8;
    pub const SNAP_END: u8 = 9;
    pub const ACK: u8 = 10;
}

/// A decoded frame. Data frames carry the stream sequence number they were logged under
/// (0 for items of a full copy, which are not in the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Receiver -> sender on accept: prove you know the secret for this nonce.
    Challenge {
        nonce: [u8; 16],
        repl_id: u64,
        node_id: u8,
    },
    /// Sender -> receiver: who I am, which stream, and the proof.
    Hello {
        repl_id: u64,
        node_id: u8,
        shard: u16,
        shards: u16,
        mac: [u8; 32],
    },
    /// Receiver -> sender: send from `next_seq` (0: I have nothing of yours, send a full copy).
    Welcome {
        next_seq: u64,
    },
    Refused {
        reason: String,
    },
    Data {
        seq: u64,
        m: Mutation,
    },
    SnapBegin,
    /// The copy is complete; the log continues from `next_seq`.
    SnapEnd {
        next_seq: u64,
    },
    /// Receiver -> sender: everything up to `seq` is applied.
    Ack {
        seq: u64,
    },
}

fn begin(out: &mut Vec<u8>, kind: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, kind]);
    at
}

fn finish(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Appends a data frame for `m` under `seq`.
pub fn encode_mutation(out: &mut Vec<u8>, seq: u64, m: &Mutation) {
    record::put(out, seq, m.into());
}

pub fn encode(out: &mut Vec<u8>, f: &Frame) {
    match f {
        Frame::Challenge {
            nonce,
            repl_id,
            node_id,
        } => {
            let at = begin(out, kind::CHALLENGE);
            out.extend_from_slice(MAGIC);
            out.extend_from_slice(nonce);
            out.extend_from_slice(&repl_id.to_le_bytes());
            out.push(*node_id);
            finish(out, at);
        }
        Frame::Hello {
            repl_id,
            node_id,
            shard,
            shards,
            mac,
        } => {
            let at = begin(out, kind::HELLO);
            out.extend_from_slice(MAGIC);
            out.extend_from_slice(&repl_id.to_le_bytes());
            out.push(*node_id);
            out.extend_from_slice(&shard.to_le_bytes());
            out.extend_from_slice(&shards.to_le_bytes());
            out.extend_from_slice(mac);
            finish(out, at);
        }
        Frame::Welcome { next_seq } => {
            let at = begin(out, kind::WELCOME);
            out.extend_from_slice(&next_seq.to_le_bytes());
            finish(out, at);
        }
        Frame::Refused { reason } => {
            let at = begin(out, kind::REFUSED);
            put_bytes(out, reason.as_bytes());
            finish(out, at);
        }
        Frame::Data { seq, m } => encode_mutation(out, *seq, m),
        Frame::SnapBegin => {
            let at = begin(out, kind::SNAP_BEGIN);
            finish(out, at);
        }
        Frame::SnapEnd { next_seq } => {
            let at = begin(out, kind::SNAP_END);
            out.extend_from_slice(&next_seq.to_le_bytes());
            finish(out, at);
        }
        Frame::Ack { seq } => {
            let at = begin(out, kind::ACK);
            out.extend_from_slice(&seq.to_le_bytes());
            finish(out, at);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not enough bytes yet.
    Incomplete,
    /// The peer does not speak this protocol (or is broken): drop the link.
    Invalid(&'static str),
}

impl From<&'static str> for DecodeError {
    fn from(e: &'static str) -> Self {
        DecodeError::Invalid(e)
    }
}

fn magic(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    if r.take(4)? != MAGIC {
        return Err(DecodeError::Invalid("not a corecached twin (bad magic)"));
    }
    Ok(())
}

/// A decoded frame whose data borrows from the receive buffer: the form the receiving
/// side applies without copying keys and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameRef<'a> {
    Data { seq: u64, m: MutationRef<'a> },
    Control(Frame),
}

/// Decodes the first frame of `buf`; returns it and the bytes it used.
pub fn decode(buf: &[u8]) -> Result<(Frame, usize), DecodeError> {
    let (f, used) = decode_ref(buf)?;
    let f = match f {
        FrameRef::Data { seq, m } => Frame::Data {
            seq,
            m: m.to_owned(),
        },
        FrameRef::Control(f) => f,
    };
    Ok((f, used))
}

/// Like [`decode`], with data frames borrowing from `buf`.
pub fn decode_ref(buf: &[u8]) -> Result<(FrameRef<'_>, usize), DecodeError> {
    if buf.len() < 5 {
        return Err(DecodeError::Incomplete);
    }
    let len = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
    if !(1..=MAX_FRAME).contains(&len) {
        return Err(DecodeError::Invalid("bad frame length"));
    }
    if buf.len() < 4 + len {
        return Err(DecodeError::Incomplete);
    }
    let body = &buf[5..4 + len];
    let mut r = Reader::new(body);
    let frame = match buf[4] {
        k @ (kind::SET | kind::DELETE | kind::FLUSH | kind::MARK) => {
            let (seq, m) = record::decode(k, body)?;
            return Ok((FrameRef::Data { seq, m }, 4 + len));
        }
        kind::CHALLENGE => {
            magic(&mut r)?;
            let nonce = r.array()?;
            Frame::Challenge {
                nonce,
                repl_id: r.u64()?,
                node_id: r.u8()?,
            }
        }
        kind::HELLO => {
            magic(&mut r)?;
            let (repl_id, node_id, shard, shards) = (r.u64()?, r.u8()?, r.u16()?, r.u16()?);
            let mac = r.array()?;
            Frame::Hello {
                repl_id,
                node_id,
                shard,
                shards,
                mac,
            }
        }
        kind::WELCOME => Frame::Welcome { next_seq: r.u64()? },
        kind::REFUSED => Frame::Refused {
            reason: String::from_utf8_lossy(r.bytes()?).into_owned(),
        },
        kind::SNAP_BEGIN => Frame::SnapBegin,
        kind::SNAP_END => Frame::SnapEnd { next_seq: r.u64()? },
        kind::ACK => Frame::Ack { seq: r.u64()? },
        _ => return Err(DecodeError::Invalid("unknown frame kind")),
    };
    if !r.is_empty() {
        return Err(DecodeError::Invalid("trailing bytes in frame"));
    }
    Ok((FrameRef::Control(frame), 4 + len))
}

/// The proof a sender gives: HMAC-SHA256(secret, nonce || sender repl_id).
pub fn auth_mac(secret: &[u8], nonce: &[u8; 16], repl_id: u64) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(nonce);
    mac.update(&repl_id.to_le_bytes());
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(f: Frame) {
        let mut out = Vec::new();
        encode(&mut out, &f);
        out.extend_from_slice(b"next");
        let (g, used) = decode(&out).unwrap();
        assert_eq!(g, f);
        assert_eq!(used, out.len() - 4);
        for cut in 0..used {
            assert_eq!(
                decode(&out[..cut]).unwrap_err(),
                DecodeError::Incomplete,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn every_frame_round_trips() {
        round_trip(Frame::Challenge {
            nonce: [7; 16],
            repl_id: 9,
            node_id: 3,
        });
        round_trip(Frame::Hello {
            repl_id: 1,
            node_id: 2,
            shard: 3,
            shards: 4,
            mac: [5; 32],
        });
        round_trip(Frame::Welcome { next_seq: 42 });
        round_trip(Frame::Refused {
            reason: "bad secret".into(),
        });
        round_trip(Frame::Data {
            seq: 7,
            m: Mutation::Set {
                key: b"k".to_vec(),
                value: b"v\r\n\0".to_vec(),
                flags: 9,
                exptime: 100,
                version: 1 << 40,
            },
        });
        round_trip(Frame::Data {
            seq: 8,
            m: Mutation::Delete {
                key: b"k".to_vec(),
                version: 5,
            },
        });
        round_trip(Frame::Data {
            seq: 9,
            m: Mutation::Flush {
                before_version: 11,
                at_unix_secs: 12,
            },
        });
        round_trip(Frame::SnapBegin);
        round_trip(Frame::SnapEnd { next_seq: 13 });
        round_trip(Frame::Ack { seq: 14 });
    }

    #[test]
    fn garbage_is_rejected_not_panicked_on() {
        assert!(matches!(
            decode(b"GET / HTTP/1.1\r\n"),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            decode(&[1, 0, 0, 0, 99]),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            decode(&[3, 0, 0, 0, kind::SET, 1, 2]),
            Err(DecodeError::Invalid(_))
        ));
        let mut seed = 99u64;
        for _ in 0..10_000 {
            let mut buf = vec![];
            for _ in 0..(seed % 64) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                buf.push((seed >> 56) as u8 % 12);
            }
            let _ = decode(&buf);
        }
    }

    #[test]
    fn mac_depends_on_secret_and_nonce() {
        let a = auth_mac(b"s1", &[0; 16], 1);
        assert_eq!(a, auth_mac(b"s1", &[0; 16], 1));
        assert_ne!(a, auth_mac(b"s2", &[0; 16], 1));
        assert_ne!(a, auth_mac(b"s1", &[1; 16], 1));
    }
}
