//! Reading records back, borrowing keys and values from the bytes: malformed input (a
//! twin's frame, a truncated buffer) is an error, never a panic.

use super::{DELETE, FLUSH, MARK, MutationRef, Reader, SET, record_len};

/// Decodes a record of `kind` from what follows its kind byte (sequence and body, exactly);
/// returns its sequence and the mutation borrowing from `b`. Err for a malformed record or
/// a kind that is not a mutation.
pub fn decode(kind: u8, b: &[u8]) -> Result<(u64, MutationRef<'_>), &'static str> {
    let mut r = Reader::new(b);
    let seq = r.u64()?;
    let m = match kind {
        SET => {
            let (version, flags, exptime) = (r.u64()?, r.u32()?, r.u32()?);
            MutationRef::Set {
                key: r.bytes()?,
                value: r.bytes()?,
                flags,
                exptime,
                version,
            }
        }
        DELETE => {
            let version = r.u64()?;
            MutationRef::Delete {
                key: r.bytes()?,
                version,
            }
        }
        FLUSH => MutationRef::Flush {
            before_version: r.u64()?,
            at_unix_secs: r.u32()?,
        },
        MARK => {
            let (version, bits) = (r.u64()?, r.u8()?);
            MutationRef::Mark {
                key: r.bytes()?,
                version,
                bits,
            }
        }
        _ => return Err("unknown frame kind"),
    };
    if !r.is_empty() {
        return Err("trailing bytes in frame");
    }
    Ok((seq, m))
}

/// Decodes one whole record (as written by [`super::put`]).
pub fn decode_record(rec: &[u8]) -> Result<(u64, MutationRef<'_>), &'static str> {
    if rec.len() < 5 || record_len(rec) != rec.len() {
        return Err("bad frame length");
    }
    decode(rec[4], &rec[5..])
}

/// The records of a buffer of well-formed records (a store's log, a batch), in order.
pub fn records(mut buf: &[u8]) -> impl Iterator<Item = (u64, MutationRef<'_>)> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        let (rec, rest) = buf.split_at(record_len(buf));
        buf = rest;
        Some(decode_record(rec).expect("the store writes well-formed records"))
    })
}
