//! The byte encoding of meta ops' arguments and meta outcomes, for the op codec: fixed
//! little-endian fields, optional numbers behind a presence byte.

use super::{
    Item, MetaArgs, MetaCmd, MetaDebug, MetaError, MetaHit, MetaOutcome, MetaStatus, MetaTimes, Op,
};
use crate::record::Reader;

type R<T> = Result<T, &'static str>;

/// Appends an `Op::Meta` (tag 11 in the op codec).
pub(super) fn put_op(out: &mut Vec<u8>, op: &Op<'_>) {
    if let Op::Meta {
        cmd,
        key,
        args,
        value,
    } = *op
    {
        out.push(11);
        out.push(cmd as u8);
        put_bytes(out, key);
        put_args(out, &args);
        put_bytes(out, value);
    }
}

pub(super) fn cmd(r: &mut Reader<'_>) -> R<MetaCmd> {
    Ok(match r.u8()? {
        0 => MetaCmd::Get,
        1 => MetaCmd::Set,
        2 => MetaCmd::Delete,
        3 => MetaCmd::Arith,
        4 => MetaCmd::Debug,
        _ => return Err("unknown meta command"),
    })
}

fn put_opt_i32(out: &mut Vec<u8>, v: Option<i32>) {
    match v {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None => out.push(0),
    }
}

fn opt_i32(r: &mut Reader<'_>) -> R<Option<i32>> {
    Ok(match r.u8()? {
        0 => None,
        _ => Some(r.u32()? as i32),
    })
}

fn put_args(out: &mut Vec<u8>, a: &MetaArgs) {
    put_opt_i32(out, a.touch);
    put_opt_i32(out, a.vivify);
    put_opt_i32(out, a.recache);
    match a.cas {
        Some(c) => {
            out.push(1);
            out.extend_from_slice(&c.to_le_bytes());
        }
        None => out.push(0),
    }
    out.extend_from_slice(&a.flags.to_le_bytes());
    out.push(a.mode);
    out.extend_from_slice(&a.delta.to_le_bytes());
    out.extend_from_slice(&a.initial.to_le_bytes());
    let bits = [
        a.stale,
        a.no_bump,
        a.binary,
        a.touch_before_recache,
        a.vivify_after_touch,
        a.too_large,
        a.opaque_error,
    ];
    out.push(
        bits.iter()
            .rev()
            .fold(0, |acc, &b| (acc << 1) | u8::from(b)),
    );
}

pub(super) fn args(r: &mut Reader<'_>) -> R<MetaArgs> {
    let (touch, vivify, recache) = (opt_i32(r)?, opt_i32(r)?, opt_i32(r)?);
    let cas = match r.u8()? {
        0 => None,
        _ => Some(r.u64()?),
    };
    let (flags, mode, delta, initial) = (r.u32()?, r.u8()?, r.u64()?, r.u64()?);
    let bits = r.u8()?;
    let bit = |i: u8| bits & (1 << i) != 0;
    Ok(MetaArgs {
        touch,
        vivify,
        recache,
        cas,
        flags,
        mode,
        delta,
        initial,
        stale: bit(0),
        no_bump: bit(1),
        binary: bit(2),
        touch_before_recache: bit(3),
        vivify_after_touch: bit(4),
        too_large: bit(5),
        opaque_error: bit(6),
    })
}

fn put_times(out: &mut Vec<u8>, t: &MetaTimes) {
    for v in [t.now, t.exp, t.exp_touch, t.exp_vivify] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.push(u8::from(t.created));
}

fn times(r: &mut Reader<'_>) -> R<MetaTimes> {
    Ok(MetaTimes {
        now: r.u32()?,
        exp: r.u32()?,
        exp_touch: r.u32()?,
        exp_vivify: r.u32()?,
        created: r.u8()? != 0,
    })
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

pub(super) fn put_outcome(out: &mut Vec<u8>, o: &MetaOutcome<'_>) {
    match *o {
        MetaOutcome::Hit(h) => {
            out.push(0);
            put_bytes(out, h.item.key);
            out.extend_from_slice(&h.item.flags.to_le_bytes());
            out.extend_from_slice(&h.item.cas.to_le_bytes());
            put_bytes(out, h.item.value);
            put_times(out, &h.times);
            out.extend_from_slice(&h.idle.to_le_bytes());
            let bits = [h.fetched, h.token_sent, h.stale, h.won, h.binary];
            out.push(
                bits.iter()
                    .rev()
                    .fold(0, |acc, &b| (acc << 1) | u8::from(b)),
            );
        }
        MetaOutcome::Miss => out.push(1),
        MetaOutcome::Status { status, cas } => {
            out.push(2);
            out.push(status as u8);
            out.extend_from_slice(&cas.to_le_bytes());
        }
        MetaOutcome::Counter { value, cas, times } => {
            out.push(3);
            out.extend_from_slice(&value.to_le_bytes());
            out.extend_from_slice(&cas.to_le_bytes());
            put_times(out, &times);
        }
        MetaOutcome::Error(e) => {
            out.push(4);
            out.push(e as u8);
        }
        MetaOutcome::Debug(d) => {
            out.push(5);
            put_bytes(out, d.key);
            out.push(u8::from(d.binary));
            out.extend_from_slice(&d.exp.to_le_bytes());
            out.extend_from_slice(&d.idle.to_le_bytes());
            out.extend_from_slice(&d.cas.to_le_bytes());
            out.push(u8::from(d.fetched));
            out.extend_from_slice(&d.class.to_le_bytes());
            out.extend_from_slice(&d.size.to_le_bytes());
        }
    }
}

pub(super) fn outcome<'a>(r: &mut Reader<'a>) -> R<MetaOutcome<'a>> {
    Ok(match r.u8()? {
        0 => {
            let item = Item {
                key: r.bytes()?,
                flags: r.u32()?,
                cas: r.u64()?,
                value: r.bytes()?,
            };
            let (times, idle, bits) = (times(r)?, r.u32()?, r.u8()?);
            let bit = |i: u8| bits & (1 << i) != 0;
            MetaOutcome::Hit(MetaHit {
                item,
                times,
                idle,
                fetched: bit(0),
                token_sent: bit(1),
                stale: bit(2),
                won: bit(3),
                binary: bit(4),
            })
        }
        1 => MetaOutcome::Miss,
        2 => {
            let status = match r.u8()? {
                0 => MetaStatus::Stored,
                1 => MetaStatus::NotStored,
                2 => MetaStatus::Exists,
                3 => MetaStatus::NotFound,
                _ => return Err("unknown meta status"),
            };
            MetaOutcome::Status {
                status,
                cas: r.u64()?,
            }
        }
        3 => MetaOutcome::Counter {
            value: r.u64()?,
            cas: r.u64()?,
            times: times(r)?,
        },
        4 => MetaOutcome::Error(match r.u8()? {
            0 => MetaError::NonNumeric,
            1 => MetaError::TooLarge,
            2 => MetaError::OutOfMemory,
            3 => MetaError::VivifyOutOfMemory,
            _ => return Err("unknown meta error"),
        }),
        5 => MetaOutcome::Debug(MetaDebug {
            key: r.bytes()?,
            binary: r.u8()? != 0,
            exp: r.u32()? as i32,
            idle: r.u32()?,
            cas: r.u64()?,
            fetched: r.u8()? != 0,
            class: r.u32()?,
            size: r.u32()?,
        }),
        _ => return Err("unknown meta outcome"),
    })
}
