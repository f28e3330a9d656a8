//! Request latency histograms per command family, kept per shard for `/metrics`. A
//! connection counts the requests of one batch by family ([`Tally`]); when the batch's
//! replies are written it adds them all at one latency (batch start to reply written), so
//! the cost is one clock read per batch, not per request.

use crate::protocol::op::Op;

/// The command families a latency is kept for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Get,
    Set,
    Delete,
    IncrDecr,
    Touch,
    Meta,
    Other,
}

/// How many families there are.
pub const FAMILIES: usize = 7;
// A tally's mask of families is a `u8`.
const _: () = assert!(FAMILIES <= 8);

/// The `family` label of each, in the order of [`Family`]'s discriminants.
pub const FAMILY_NAMES: [&str; FAMILIES] = [
    "get",
    "set",
    "delete",
    "incr_decr",
    "touch",
    "meta",
    "other",
];

/// Upper bounds of the buckets, in microseconds; one more bucket (+Inf) follows. From a
/// pipelined hit on an idle machine (tens of µs) to a stalled batch (100 ms).
pub const BOUNDS_US: [u64; 11] = [
    25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000,
];
const BUCKETS: usize = BOUNDS_US.len() + 1;

impl Family {
    /// The family of a keyed op; ops without a key (flush, stats, ...) are `Other`. A
    /// get-and-touch counts as a touch, as memcached counts `gat` in `cmd_touch`.
    pub fn of(op: &Op<'_>) -> Family {
        match op {
            Op::Get { touch: None, .. } => Family::Get,
            Op::Get { touch: Some(_), .. } | Op::Touch { .. } => Family::Touch,
            Op::Store { .. } | Op::TooLarge { .. } => Family::Set,
            Op::Delete { .. } => Family::Delete,
            Op::Arith { .. } => Family::IncrDecr,
            Op::Meta { .. } => Family::Meta,
            _ => Family::Other,
        }
    }
}

/// A connection's requests of the current batch, by family.
/// Which families it counts is kept as a bit mask, so that a batch of one family (most of
/// them) costs one histogram look, not a pass over every family.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    counts: [u32; FAMILIES],
    seen: u8,
}

impl Tally {
    pub fn note(&mut self, f: Family) {
        self.counts[f as usize] += 1;
        self.seen |= 1 << f as u8;
    }

    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }
}

/// One family's histogram: counts per bucket (not cumulative), their sum and count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hist {
    pub buckets: [u64; BUCKETS],
    pub sum_us: u64,
    pub count: u64,
}

impl Hist {
    fn add(&mut self, b: usize, latency_us: u64, n: u64) {
        self.buckets[b] += n;
        self.sum_us += latency_us * n;
        self.count += n;
    }

    /// Running totals per bucket, as Prometheus's `le` buckets count.
    pub fn cumulative(&self) -> [u64; BUCKETS] {
        let mut acc = 0;
        self.buckets.map(|n| {
            acc += n;
            acc
        })
    }
}

/// Every family's histogram on one shard, or summed over shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latencies(pub [Hist; FAMILIES]);

impl Latencies {
    /// Adds a batch's requests, all at `latency_us`, and empties the tally.
    pub fn record(&mut self, tally: &mut Tally, latency_us: u64) {
        let b = BOUNDS_US
            .iter()
            .position(|&le| latency_us <= le)
            .unwrap_or(BOUNDS_US.len());
        let mut seen = tally.seen;
        while seen != 0 {
            let f = seen.trailing_zeros() as usize;
            seen &= seen - 1;
            self.0[f].add(b, latency_us, u64::from(tally.counts[f]));
            tally.counts[f] = 0;
        }
        tally.seen = 0;
    }

    pub fn merge(&mut self, other: &Latencies) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            for (x, y) in a.buckets.iter_mut().zip(b.buckets) {
                *x += y;
            }
            a.sum_us += b.sum_us;
            a.count += b.count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_lands_in_one_bucket_per_family_and_empties_the_tally() {
        let mut t = Tally::default();
        t.note(Family::Get);
        t.note(Family::Get);
        t.note(Family::Set);
        let mut l = Latencies::default();
        l.record(&mut t, 60);
        assert!(t.is_empty());
        let get = l.0[Family::Get as usize];
        assert_eq!((get.count, get.sum_us), (2, 120));
        // 60 µs is above 50 and at most 100: the third bucket.
        assert_eq!(get.buckets[2], 2);
        assert_eq!(get.cumulative()[1], 0);
        assert_eq!(*get.cumulative().last().unwrap(), 2);
        // The emptied tally starts again from zero.
        t.note(Family::Other);
        l.record(&mut t, 1_000_000);
        assert_eq!(l.0[Family::Other as usize].buckets[BOUNDS_US.len()], 1);
        assert_eq!(l.0[Family::Other as usize].count, 1);
        assert_eq!(
            (
                l.0[Family::Get as usize].count,
                l.0[Family::Set as usize].count
            ),
            (2, 1)
        );
        let mut sum = Latencies::default();
        sum.merge(&l);
        sum.merge(&l);
        assert_eq!(sum.0[Family::Set as usize].count, 2);
    }

    #[test]
    fn families_follow_memcached_counting() {
        let key = b"k".as_slice();
        assert_eq!(Family::of(&Op::Get { key, touch: None }), Family::Get);
        assert_eq!(
            Family::of(&Op::Get {
                key,
                touch: Some(1)
            }),
            Family::Touch
        );
        assert_eq!(Family::of(&Op::Delete { key, cas: 0 }), Family::Delete);
        assert_eq!(Family::of(&Op::Flush { delay: 0 }), Family::Other);
        assert_eq!(FAMILY_NAMES[Family::IncrDecr as usize], "incr_decr");
    }
}
