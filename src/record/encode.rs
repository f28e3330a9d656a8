//! Appending records to a buffer, and the two edits made to a record in place (reading its
//! length, stamping its sequence number). Encoding copies the key and value once and
//! allocates nothing beyond the buffer's growth.

use super::{DELETE, FLUSH, HEADER, MARK, MutationRef, SEQ_AT, SET};

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
        MutationRef::Mark { key, version, bits } => {
            head(out, 13 + key.len(), MARK, seq);
            out.extend_from_slice(&version.to_le_bytes());
            out.push(bits);
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
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
