//! The mutation log's byte format: each successful write is appended as an encoded record,
//! so logging a write costs one copy of its key and value into a reused buffer (no
//! allocation), and the replication backlog takes the records in bulk.
//!
//! A record is laid out exactly as the twin link's data frame (little-endian), so the
//! backlog only stamps the sequence number into each record and never re-encodes:
//!
//! `len: u32` (bytes after this field) | `kind: u8` | `seq: u64` (0 until the backlog numbers
//! it) | body, where the body is
//! - set: `version: u64 | flags: u32 | exptime: u32 | key_len: u32 | key | value_len: u32 | value`
//! - delete: `version: u64 | key_len: u32 | key`
//! - flush: `before_version: u64 | at_unix_secs: u32`

use super::Mutation;

pub const SET: u8 = 5;
pub const DELETE: u8 = 6;
pub const FLUSH: u8 = 7;
/// Where a record's sequence number sits.
pub const SEQ_AT: usize = 5;
/// Length field, kind and sequence: what precedes every body.
pub const HEADER: usize = 13;

/// A mutation whose key and value borrow from wherever it was decoded (a receive buffer, a
/// batch arena), so applying a twin's write copies its bytes only into the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MutationRef<'a> {
    Set {
        key: &'a [u8],
        value: &'a [u8],
        flags: u32,
        /// Absolute unix seconds, 0 = never.
        exptime: u32,
        version: u64,
    },
    Delete {
        key: &'a [u8],
        version: u64,
    },
    Flush {
        before_version: u64,
        at_unix_secs: u32,
    },
}

impl<'a> From<&'a Mutation> for MutationRef<'a> {
    fn from(m: &'a Mutation) -> Self {
        match m {
            Mutation::Set {
                key,
                value,
                flags,
                exptime,
                version,
            } => MutationRef::Set {
                key,
                value,
                flags: *flags,
                exptime: *exptime,
                version: *version,
            },
            Mutation::Delete { key, version } => MutationRef::Delete {
                key,
                version: *version,
            },
            Mutation::Flush {
                before_version,
                at_unix_secs,
            } => MutationRef::Flush {
                before_version: *before_version,
                at_unix_secs: *at_unix_secs,
            },
        }
    }
}

impl MutationRef<'_> {
    pub fn to_owned(self) -> Mutation {
        match self {
            MutationRef::Set {
                key,
                value,
                flags,
                exptime,
                version,
            } => Mutation::Set {
                key: key.to_vec(),
                value: value.to_vec(),
                flags,
                exptime,
                version,
            },
            MutationRef::Delete { key, version } => Mutation::Delete {
                key: key.to_vec(),
                version,
            },
            MutationRef::Flush {
                before_version,
                at_unix_secs,
            } => Mutation::Flush {
                before_version,
                at_unix_secs,
            },
        }
    }

    /// The key it changes; None for a flush, which concerns every key.
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            MutationRef::Set { key, .. } | MutationRef::Delete { key, .. } => Some(key),
            MutationRef::Flush { .. } => None,
        }
    }
}

fn head(out: &mut Vec<u8>, body: usize, kind: u8, seq: u64) {
    out.reserve(HEADER + body);
    out.extend_from_slice(&((body + 9) as u32).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&seq.to_le_bytes());
}

/// Appends a set record for an item whose value is `a ++ c`.
pub fn put_set(
    out: &mut Vec<u8>,
    seq: u64,
    key: &[u8],
    (a, c): (&[u8], &[u8]),
    flags: u32,
    exptime: u32,
    version: u64,
) {
    let vlen = a.len() + c.len();
    head(out, 24 + key.len() + vlen, SET, seq);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&exptime.to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(vlen as u32).to_le_bytes());
    out.extend_from_slice(a);
    out.extend_from_slice(c);
}

/// Appends the record for `m` under `seq`.
pub fn put(out: &mut Vec<u8>, seq: u64, m: MutationRef<'_>) {
    match m {
        MutationRef::Set {
            key,
            value,
            flags,
            exptime,
            version,
        } => put_set(out, seq, key, (value, &[]), flags, exptime, version),
        MutationRef::Delete { key, version } => {
            head(out, 12 + key.len(), DELETE, seq);
            out.extend_from_slice(&version.to_le_bytes());
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
        }
        MutationRef::Flush {
            before_version,
            at_unix_secs,
        } => {
            head(out, 12, FLUSH, seq);
            out.extend_from_slice(&before_version.to_le_bytes());
            out.extend_from_slice(&at_unix_secs.to_le_bytes());
        }
    }
}

/// The total length of the record starting `buf` (which must hold at least its length).
#[inline]
pub fn record_len(buf: &[u8]) -> usize {
    u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize + 4
}

/// Writes `seq` into the record starting `rec`.
#[inline]
pub fn stamp(rec: &mut [u8], seq: u64) {
    rec[SEQ_AT..SEQ_AT + 8].copy_from_slice(&seq.to_le_bytes());
}

fn split(b: &[u8], n: usize) -> Result<(&[u8], &[u8]), &'static str> {
    if b.len() < n {
        return Err("truncated frame");
    }
    Ok(b.split_at(n))
}

fn u32_at(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().unwrap())
}

fn u64_at(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().unwrap())
}

fn bytes(b: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    let (n, rest) = split(b, 4)?;
    split(rest, u32_at(n) as usize)
}

/// Decodes a record of `kind` from what follows its kind byte (sequence and body, exactly);
/// returns its sequence and the mutation borrowing from `b`. Err for a malformed record or
/// a kind that is not a mutation.
pub fn decode(kind: u8, b: &[u8]) -> Result<(u64, MutationRef<'_>), &'static str> {
    let (seq, b) = split(b, 8)?;
    let seq = u64_at(seq);
    let (m, rest) = match kind {
        SET => {
            let (fixed, b) = split(b, 16)?;
            let (key, b) = bytes(b)?;
            let (value, rest) = bytes(b)?;
            let m = MutationRef::Set {
                key,
                value,
                flags: u32_at(&fixed[8..]),
                exptime: u32_at(&fixed[12..]),
                version: u64_at(fixed),
            };
            (m, rest)
        }
        DELETE => {
            let (v, b) = split(b, 8)?;
            let (key, rest) = bytes(b)?;
            let m = MutationRef::Delete {
                key,
                version: u64_at(v),
            };
            (m, rest)
        }
        FLUSH => {
            let (fixed, rest) = split(b, 12)?;
            let m = MutationRef::Flush {
                before_version: u64_at(fixed),
                at_unix_secs: u32_at(&fixed[8..]),
            };
            (m, rest)
        }
        _ => return Err("unknown frame kind"),
    };
    if !rest.is_empty() {
        return Err("trailing bytes in frame");
    }
    Ok((seq, m))
}

/// Decodes one whole record (as written by [`put`]).
pub fn decode_record(rec: &[u8]) -> Result<(u64, MutationRef<'_>), &'static str> {
    if rec.len() < 5 || record_len(rec) != rec.len() {
        return Err("bad frame length");
    }
    decode(rec[4], &rec[5..])
}

/// The records of a log buffer, in order.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let ms = [
            Mutation::Set {
                key: b"k".to_vec(),
                value: b"v\r\n\0".to_vec(),
                flags: 9,
                exptime: 100,
                version: 1 << 40,
            },
            Mutation::Delete {
                key: b"key".to_vec(),
                version: 5,
            },
            Mutation::Flush {
                before_version: 11,
                at_unix_secs: 12,
            },
        ];
        let mut buf = Vec::new();
        for (i, m) in ms.iter().enumerate() {
            put(&mut buf, i as u64 + 7, m.into());
        }
        let got: Vec<_> = records(&buf).map(|(s, m)| (s, m.to_owned())).collect();
        let want: Vec<_> = ms
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, m)| (i as u64 + 7, m))
            .collect();
        assert_eq!(got, want);
        let n = record_len(&buf);
        stamp(&mut buf[..n], 99);
        assert_eq!(decode_record(&buf[..n]).unwrap().0, 99);
        for cut in 5..n {
            assert!(decode_record(&buf[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn split_values_encode_as_one() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        put_set(&mut a, 0, b"k", (b"ab", b"cd"), 1, 2, 3);
        put_set(&mut b, 0, b"k", (b"abcd", b""), 1, 2, 3);
        assert_eq!(a, b);
    }
}
