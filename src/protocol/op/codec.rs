//! One byte encoding for ops and outcomes, so a batch to another shard is one buffer however
//! many requests it holds: the sender appends, the owner decodes in place. Both ends are this
//! process, but decoding still never panics: a short or unknown encoding is an error.

use super::meta_codec;
use super::{Arith, ArithInit, Item, Op, Outcome, Removed, StoreKind, Stored};
use crate::record::Reader;

/// Appends `op`'s encoding to `out`.
pub fn encode_op(out: &mut Vec<u8>, op: Op<'_>) {
    match op {
        Op::Get { key, touch } => {
            out.push(0);
            put_bytes(out, key);
            match touch {
                Some(t) => {
                    out.push(1);
                    out.extend_from_slice(&t.to_le_bytes());
                }
                None => out.push(0),
            }
        }
        Op::Store {
            kind,
            key,
            flags,
            exptime,
            value,
        } => {
            out.push(1);
            put_kind(out, kind);
            put_bytes(out, key);
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&exptime.to_le_bytes());
            put_bytes(out, value);
        }
        Op::TooLarge { kind, key } => {
            out.push(2);
            put_kind(out, kind);
            put_bytes(out, key);
        }
        Op::Delete { key, cas } => {
            out.push(3);
            put_bytes(out, key);
            out.extend_from_slice(&cas.to_le_bytes());
        }
        Op::Arith {
            incr,
            key,
            delta,
            init,
            cas,
        } => {
            out.push(4);
            out.push(u8::from(incr) | (u8::from(init.is_some()) << 1));
            put_bytes(out, key);
            out.extend_from_slice(&delta.to_le_bytes());
            out.extend_from_slice(&cas.to_le_bytes());
            if let Some(i) = init {
                out.extend_from_slice(&i.value.to_le_bytes());
                out.extend_from_slice(&i.exptime.to_le_bytes());
            }
        }
        Op::Touch { key, exptime } => {
            out.push(5);
            put_bytes(out, key);
            out.extend_from_slice(&exptime.to_le_bytes());
        }
        Op::Flush { delay } => {
            out.push(6);
            out.extend_from_slice(&delay.to_le_bytes());
        }
        Op::Stats => out.push(7),
        Op::ResetStats => out.push(8),
        Op::Apply(rec) => {
            out.push(9);
            put_bytes(out, rec);
        }
        Op::Meta { .. } => meta_codec::put_op(out, &op),
        Op::Dump { .. } | Op::CacheDump { .. } | Op::MemLimit { .. } | Op::Crawl { .. } => {
            put_admin(out, op)
        }
    }
}

/// The ops of admin commands, which carry no key: fixed fields after the tag.
fn put_admin(out: &mut Vec<u8>, op: Op<'_>) {
    match op {
        Op::Dump { classes, cursor } => put_u64s(out, 10, &[classes, cursor]),
        Op::CacheDump { class, max, cursor } => {
            put_u64s(out, 12, &[]);
            out.extend_from_slice(&class.to_le_bytes());
            out.extend_from_slice(&max.to_le_bytes());
            out.extend_from_slice(&cursor.to_le_bytes());
        }
        Op::MemLimit { bytes } => put_u64s(out, 13, &[bytes]),
        Op::Crawl { classes, tocrawl } => {
            put_u64s(out, 14, &[classes]);
            out.extend_from_slice(&tocrawl.to_le_bytes());
        }
        _ => unreachable!("not an admin op"),
    }
}

/// An op's tag and then its fixed 8-byte fields.
fn put_u64s(out: &mut Vec<u8>, tag: u8, words: &[u64]) {
    out.push(tag);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

/// Appends an `Op::Apply` whose record `write` encodes straight into `out`, so a twin's
/// write forwarded to another shard is not first encoded somewhere else and copied.
pub fn encode_apply(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    out.push(9);
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// The op at the start of `b` and the bytes it took.
pub fn decode_op(b: &[u8]) -> Result<(Op<'_>, usize), &'static str> {
    let mut r = Bytes(Reader::new(b));
    let op = match r.u8()? {
        0 => {
            let key = r.bytes()?;
            let touch = match r.u8()? {
                0 => None,
                _ => Some(r.i32()?),
            };
            Op::Get { key, touch }
        }
        1 => Op::Store {
            kind: r.kind()?,
            key: r.bytes()?,
            flags: r.u32()?,
            exptime: r.i32()?,
            value: r.bytes()?,
        },
        2 => Op::TooLarge {
            kind: r.kind()?,
            key: r.bytes()?,
        },
        3 => Op::Delete {
            key: r.bytes()?,
            cas: r.u64()?,
        },
        4 => {
            let bits = r.u8()?;
            let key = r.bytes()?;
            let delta = r.u64()?;
            let cas = r.u64()?;
            let init = match bits & 2 {
                0 => None,
                _ => Some(ArithInit {
                    value: r.u64()?,
                    exptime: r.i32()?,
                }),
            };
            Op::Arith {
                incr: bits & 1 != 0,
                key,
                delta,
                init,
                cas,
            }
        }
        5 => Op::Touch {
            key: r.bytes()?,
            exptime: r.i32()?,
        },
        6 => Op::Flush { delay: r.i32()? },
        7 => Op::Stats,
        8 => Op::ResetStats,
        9 => Op::Apply(r.bytes()?),
        10 => Op::Dump {
            classes: r.u64()?,
            cursor: r.u64()?,
        },
        11 => Op::Meta {
            cmd: meta_codec::cmd(&mut r.0)?,
            key: r.bytes()?,
            args: meta_codec::args(&mut r.0)?,
            value: r.bytes()?,
        },
        12 => Op::CacheDump {
            class: r.u32()?,
            max: r.u32()?,
            cursor: r.u64()?,
        },
        13 => Op::MemLimit { bytes: r.u64()? },
        14 => Op::Crawl {
            classes: r.u64()?,
            tocrawl: r.u32()?,
        },
        _ => return Err("unknown op"),
    };
    Ok((op, b.len() - r.0.rest().len()))
}

/// The ops of a buffer of consecutive encodings, in order; stops at the first bad one.
pub struct OpIter<'a>(pub &'a [u8]);

impl<'a> Iterator for OpIter<'a> {
    type Item = Op<'a>;

    fn next(&mut self) -> Option<Op<'a>> {
        let (op, used) = decode_op(self.0).ok()?;
        self.0 = &self.0[used..];
        Some(op)
    }
}

/// Appends `outcome`'s encoding to `out`.
pub fn encode_outcome(out: &mut Vec<u8>, outcome: &Outcome<'_>) {
    match *outcome {
        Outcome::Hit(it) => {
            out.push(0);
            put_bytes(out, it.key);
            out.extend_from_slice(&it.flags.to_le_bytes());
            out.extend_from_slice(&it.cas.to_le_bytes());
            put_bytes(out, it.value);
        }
        Outcome::Miss => out.push(1),
        Outcome::Stored { result, cas } => {
            out.push(2);
            out.push(result as u8);
            out.extend_from_slice(&cas.to_le_bytes());
        }
        Outcome::Deleted(r) => {
            out.push(3);
            out.push(r as u8);
        }
        Outcome::Touched(hit) => {
            out.push(4);
            out.push(u8::from(hit));
        }
        Outcome::Arith(a) => {
            out.push(5);
            let (tag, v, cas) = match a {
                Arith::Value { value, cas } => (0, value, cas),
                Arith::NotFound => (1, 0, 0),
                Arith::NonNumeric => (2, 0, 0),
                Arith::OutOfMemory => (3, 0, 0),
                Arith::Exists => (4, 0, 0),
            };
            out.push(tag);
            out.extend_from_slice(&v.to_le_bytes());
            out.extend_from_slice(&cas.to_le_bytes());
        }
        Outcome::Lines { text, resume } => {
            out.push(6);
            put_bytes(out, text);
            match resume {
                Some(c) => {
                    out.push(1);
                    out.extend_from_slice(&c.to_le_bytes());
                }
                None => out.push(0),
            }
        }
        Outcome::Done => out.push(7),
        Outcome::Meta(ref m) => {
            out.push(8);
            meta_codec::put_outcome(out, m);
        }
    }
}

/// The outcome encoded at the start of `b`.
pub fn decode_outcome(b: &[u8]) -> Result<Outcome<'_>, &'static str> {
    let mut r = Bytes(Reader::new(b));
    Ok(match r.u8()? {
        0 => Outcome::Hit(Item {
            key: r.bytes()?,
            flags: r.u32()?,
            cas: r.u64()?,
            value: r.bytes()?,
        }),
        1 => Outcome::Miss,
        2 => Outcome::Stored {
            result: match r.u8()? {
                0 => Stored::Stored,
                1 => Stored::NotStored,
                2 => Stored::Exists,
                3 => Stored::NotFound,
                4 => Stored::TooLarge,
                5 => Stored::OutOfMemory,
                _ => return Err("unknown store result"),
            },
            cas: r.u64()?,
        },
        3 => Outcome::Deleted(match r.u8()? {
            0 => Removed::Deleted,
            1 => Removed::NotFound,
            2 => Removed::Exists,
            _ => return Err("unknown delete result"),
        }),
        4 => Outcome::Touched(r.u8()? != 0),
        5 => {
            let tag = r.u8()?;
            let value = r.u64()?;
            let cas = r.u64()?;
            Outcome::Arith(match tag {
                0 => Arith::Value { value, cas },
                1 => Arith::NotFound,
                2 => Arith::NonNumeric,
                3 => Arith::OutOfMemory,
                4 => Arith::Exists,
                _ => return Err("unknown arith result"),
            })
        }
        6 => Outcome::Lines {
            text: r.bytes()?,
            resume: match r.u8()? {
                0 => None,
                _ => Some(r.u64()?),
            },
        },
        7 => Outcome::Done,
        8 => Outcome::Meta(meta_codec::outcome(&mut r.0)?),
        _ => return Err("unknown outcome"),
    })
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_kind(out: &mut Vec<u8>, kind: StoreKind) {
    let (tag, cas) = match kind {
        StoreKind::Set => (0, None),
        StoreKind::Add => (1, None),
        StoreKind::Replace => (2, None),
        StoreKind::Append => (3, None),
        StoreKind::Prepend => (4, None),
        StoreKind::Cas(c) => (5, Some(c)),
        StoreKind::AppendCas(c) => (6, Some(c)),
        StoreKind::PrependCas(c) => (7, Some(c)),
    };
    out.push(tag);
    if let Some(c) = cas {
        out.extend_from_slice(&c.to_le_bytes());
    }
}

/// The record module's little-endian reader (the one every decoder here uses), with the
/// two fields only ops have.
struct Bytes<'a>(Reader<'a>);

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> Result<u8, &'static str> {
        self.0.u8()
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        self.0.u32()
    }

    fn i32(&mut self) -> Result<i32, &'static str> {
        Ok(self.0.u32()? as i32)
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        self.0.u64()
    }

    fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        self.0.bytes()
    }

    fn kind(&mut self) -> Result<StoreKind, &'static str> {
        Ok(match self.u8()? {
            0 => StoreKind::Set,
            1 => StoreKind::Add,
            2 => StoreKind::Replace,
            3 => StoreKind::Append,
            4 => StoreKind::Prepend,
            5 => StoreKind::Cas(self.u64()?),
            6 => StoreKind::AppendCas(self.u64()?),
            7 => StoreKind::PrependCas(self.u64()?),
            _ => return Err("unknown store kind"),
        })
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
