//! A shard's replication backlog: its recent writes, already encoded as wire frames and
//! numbered by a per-shard sequence, bounded in bytes and age. A twin that returns within
//! the window resumes from its last sequence (partial resync) instead of taking a full copy.

use crate::record::{record_len, stamp};
use std::collections::VecDeque;

/// Frames are packed into segments of about this size, so trimming and reading are cheap.
const SEGMENT_BYTES: usize = 64 * 1024;

struct Segment {
    first_seq: u64,
    bytes: Vec<u8>,
    /// Start offset of each frame in `bytes`.
    starts: Vec<u32>,
    /// When each frame was logged (unix µs), for lag and age trimming. Microseconds, not
    /// the store's milliseconds: a sub-millisecond lag must be measurable.
    times: Vec<u64>,
}

impl Segment {
    fn last_seq(&self) -> u64 {
        self.first_seq + self.starts.len() as u64 - 1
    }
}

pub struct Backlog {
    segs: VecDeque<Segment>,
    next_seq: u64,
    bytes: usize,
    max_bytes: usize,
    max_age_us: u64,
}

impl Backlog {
    pub fn new(max_bytes: usize, max_age_ms: u64) -> Self {
        Backlog {
            segs: VecDeque::new(),
            next_seq: 1,
            bytes: 0,
            max_bytes,
            max_age_us: max_age_ms.saturating_mul(1000),
        }
    }

    /// Logs the encoded records `recs` (the store's mutation log: whole records, any
    /// sequence) under the next sequence numbers, stamped `now_us` (unix µs); returns how
    /// many it logged.
    pub fn append(&mut self, recs: &[u8], now_us: u64) -> u64 {
        let first = self.next_seq;
        let mut pos = 0;
        while pos < recs.len() {
            // A new segment also when the last one is past the age bound, so it can be trimmed.
            let need_new = self.segs.back().is_none_or(|s| {
                s.bytes.len() >= SEGMENT_BYTES
                    || now_us.saturating_sub(*s.times.last().unwrap_or(&now_us)) > self.max_age_us
            });
            if need_new {
                self.segs.push_back(Segment {
                    first_seq: self.next_seq,
                    bytes: Vec::with_capacity(SEGMENT_BYTES + 1024),
                    starts: Vec::new(),
                    times: Vec::new(),
                });
            }
            let seg = self.segs.back_mut().expect("just ensured");
            // Whole records while the segment has room (at least one), copied in one go.
            let base = seg.bytes.len();
            let mut end = pos;
            while end < recs.len() && (end == pos || base + (end - pos) < SEGMENT_BYTES) {
                seg.starts.push((base + end - pos) as u32);
                seg.times.push(now_us);
                end += record_len(&recs[end..]);
            }
            seg.bytes.extend_from_slice(&recs[pos..end]);
            let added = seg.starts.len() - (self.next_seq - seg.first_seq) as usize;
            for &at in &seg.starts[seg.starts.len() - added..] {
                stamp(&mut seg.bytes[at as usize..], self.next_seq);
                self.next_seq += 1;
            }
            self.bytes += end - pos;
            pos = end;
        }
        self.trim(now_us);
        self.next_seq - first
    }

    /// Drops whole segments while over the byte bound or older than the age bound, always
    /// keeping the newest segment.
    pub fn trim(&mut self, now_us: u64) {
        while self.segs.len() > 1 {
            let front = &self.segs[0];
            let newest = *front.times.last().unwrap_or(&0);
            let too_old = now_us.saturating_sub(newest) > self.max_age_us;
            if self.bytes <= self.max_bytes && !too_old {
                break;
            }
            self.bytes -= front.bytes.len();
            self.segs.pop_front();
        }
    }

    /// The sequence the next write will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Oldest sequence still held (== next_seq when empty).
    pub fn first_seq(&self) -> u64 {
        self.segs.front().map_or(self.next_seq, |s| s.first_seq)
    }

    /// Whether a reader wanting `seq` next can be served from here.
    pub fn covers(&self, seq: u64) -> bool {
        seq >= self.first_seq() && seq <= self.next_seq
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> u64 {
        self.next_seq - self.first_seq()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When `seq` was logged (unix µs), if it is still held.
    pub fn time_of(&self, seq: u64) -> Option<u64> {
        let seg = self
            .segs
            .iter()
            .find(|s| seq >= s.first_seq && seq <= s.last_seq())?;
        seg.times.get((seq - seg.first_seq) as usize).copied()
    }

    /// Copies frames from `seq` on into `out`, up to about `max_bytes`; returns the next
    /// sequence to read. Call only when `covers(seq)`.
    pub fn read_from(&self, seq: u64, max_bytes: usize, out: &mut Vec<u8>) -> u64 {
        let mut seq = seq;
        let start_len = out.len();
        for seg in &self.segs {
            if seq > seg.last_seq() {
                continue;
            }
            let i = (seq - seg.first_seq) as usize;
            let from = seg.starts[i] as usize;
            let room = max_bytes.saturating_sub(out.len() - start_len);
            // Whole frames only: find the last frame that ends within `room`.
            let mut j = seg.starts.len();
            let mut end = seg.bytes.len();
            while end - from > room && j > i + 1 {
                j -= 1;
                end = seg.starts[j] as usize;
            }
            out.extend_from_slice(&seg.bytes[from..end]);
            seq = seg.first_seq + j as u64;
            if j < seg.starts.len() || out.len() - start_len >= max_bytes {
                break;
            }
        }
        seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::put_set;
    use crate::replication::wire::{Frame, decode};

    fn set(i: u64) -> Vec<u8> {
        let mut rec = Vec::new();
        put_set(
            &mut rec,
            0,
            format!("k{i}").as_bytes(),
            (&[b'v'; 100], &[]),
            0,
            0,
            i,
        );
        rec
    }

    fn frames(mut buf: &[u8]) -> Vec<u64> {
        let mut seqs = vec![];
        while !buf.is_empty() {
            let (f, used) = decode(buf).unwrap();
            let Frame::Data { seq, .. } = f else { panic!() };
            seqs.push(seq);
            buf = &buf[used..];
        }
        seqs
    }

    #[test]
    fn reads_resume_at_any_sequence() {
        let mut b = Backlog::new(1 << 30, u64::MAX);
        for i in 0..3000 {
            assert_eq!(b.append(&set(i), 0), 1);
            assert_eq!(b.next_seq(), i + 2);
        }
        for start in [1, 2, 500, 1500, 3000, 3001] {
            let mut out = vec![];
            let mut seq = start;
            while seq < b.next_seq() {
                seq = b.read_from(seq, 10_000, &mut out);
            }
            let got = frames(&out);
            assert_eq!(got, (start..=3000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn bulk_appends_number_and_split_like_single_ones() {
        let (mut one, mut bulk) = (
            Backlog::new(1 << 30, u64::MAX),
            Backlog::new(1 << 30, u64::MAX),
        );
        let mut recs = Vec::new();
        for i in 0..2000 {
            one.append(&set(i), 0);
            recs.extend_from_slice(&set(i));
            if i % 300 == 299 {
                bulk.append(&recs, 0);
                recs.clear();
            }
        }
        bulk.append(&recs, 0);
        assert_eq!(bulk.next_seq(), one.next_seq());
        assert_eq!(bulk.bytes(), one.bytes());
        let (mut a, mut b) = (vec![], vec![]);
        one.read_from(1, usize::MAX, &mut a);
        bulk.read_from(1, usize::MAX, &mut b);
        assert_eq!(a, b);
        assert_eq!(frames(&b), (1..=2000).collect::<Vec<_>>());
    }

    #[test]
    fn bounded_by_bytes_and_age() {
        let mut b = Backlog::new(200_000, 1_000);
        for i in 0..10_000 {
            b.append(&set(i), 0);
        }
        assert!(b.bytes() <= 200_000 + SEGMENT_BYTES + 1024, "{}", b.bytes());
        assert!(!b.covers(1));
        assert!(b.covers(b.next_seq()));
        let first = b.first_seq();
        assert!(b.covers(first) && !b.covers(first - 1));
        b.append(&set(1), 5_000_000);
        assert_eq!(b.len(), 1, "only the newest record survives the age bound");
        assert_eq!(b.time_of(b.next_seq() - 1), Some(5_000_000));
    }
}
