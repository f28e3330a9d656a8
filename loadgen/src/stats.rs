//! Counters and latency histograms per command, kept per thread per second and merged by the
//! main thread; plus percentile lookups shared by the report, the JSON and the plot.

use hdrhistogram::Histogram;
use std::time::Duration;

pub const GET: usize = 0;
pub const SET: usize = 1;
pub const CMD_NAMES: [&str; 2] = ["get", "set"];

/// Nanoseconds, three significant digits, up to 100 s: a stalled server shows up as a
/// huge value instead of being dropped.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("static bounds")
}

#[derive(Clone)]
pub struct CmdStats {
    /// Counted like the server's cmd_get/cmd_set: a K-key get is K ops.
    pub ops: u64,
    /// Requests on the wire: a K-key get is one.
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    pub bytes: u64,
    /// From the intended send time (equal to the actual one when closed-loop).
    pub lat: Histogram<u64>,
    /// From the actual send time; only filled in open-loop runs.
    pub lat_uncorrected: Histogram<u64>,
}

impl CmdStats {
    pub fn new() -> CmdStats {
        CmdStats {
            ops: 0,
            requests: 0,
            hits: 0,
            misses: 0,
            errors: 0,
            bytes: 0,
            lat: new_hist(),
            lat_uncorrected: new_hist(),
        }
    }

    pub fn add(&mut self, o: &CmdStats) {
        self.ops += o.ops;
        self.requests += o.requests;
        self.hits += o.hits;
        self.misses += o.misses;
        self.errors += o.errors;
        self.bytes += o.bytes;
        self.lat.add(&o.lat).expect("same bounds");
        self.lat_uncorrected
            .add(&o.lat_uncorrected)
            .expect("same bounds");
    }
}

/// What one thread (or, merged, all threads) saw during one reporting second.
#[derive(Clone)]
pub struct Interval {
    pub index: u64,
    pub dur: Duration,
    pub cmds: [CmdStats; 2],
    pub mismatches: u64,
}

impl Interval {
    pub fn new(index: u64) -> Interval {
        Interval {
            index,
            dur: Duration::ZERO,
            cmds: [CmdStats::new(), CmdStats::new()],
            mismatches: 0,
        }
    }

    pub fn add(&mut self, o: &Interval) {
        self.dur = self.dur.max(o.dur);
        self.cmds[GET].add(&o.cmds[GET]);
        self.cmds[SET].add(&o.cmds[SET]);
        self.mismatches += o.mismatches;
    }

    pub fn ops(&self) -> u64 {
        self.cmds[GET].ops + self.cmds[SET].ops
    }

    pub fn total_lat(&self) -> Histogram<u64> {
        let mut h = self.cmds[GET].lat.clone();
        h.add(&self.cmds[SET].lat).expect("same bounds");
        h
    }

    pub fn hit_ratio(&self) -> Option<f64> {
        let g = &self.cmds[GET];
        let asked = g.hits + g.misses;
        (asked > 0).then(|| g.hits as f64 / asked as f64)
    }
}

/// The percentiles every output reports, as (json name, quantile).
pub const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p999", 0.999),
    ("p9999", 0.9999),
];

/// Latency at quantile `q` in microseconds; 0 for an empty histogram.
pub fn quantile_us(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

pub fn max_us(h: &Histogram<u64>) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.max() as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = new_hist();
        // 1..=10000 microseconds, once each.
        for us in 1..=10_000u64 {
            h.record(us * 1000).unwrap();
        }
        let p = |q| quantile_us(&h, q);
        // Three significant digits: within 0.1% of the exact rank.
        assert!((p(0.5) - 5000.0).abs() <= 5.0, "{}", p(0.5));
        assert!((p(0.9) - 9000.0).abs() <= 9.0);
        assert!((p(0.99) - 9900.0).abs() <= 10.0);
        assert!((p(0.999) - 9990.0).abs() <= 10.0);
        assert!((max_us(&h) - 10_000.0).abs() <= 10.0);
        assert_eq!(quantile_us(&new_hist(), 0.5), 0.0);
    }

    #[test]
    fn merging_intervals_adds_counts_and_histograms() {
        let mut a = Interval::new(0);
        let mut b = Interval::new(0);
        a.cmds[GET].ops = 3;
        a.cmds[GET].hits = 2;
        a.cmds[GET].misses = 1;
        a.cmds[GET].lat.record(1_000).unwrap();
        b.cmds[SET].ops = 1;
        b.cmds[SET].lat.record(1_000_000).unwrap();
        b.dur = Duration::from_secs(1);
        a.add(&b);
        assert_eq!(a.ops(), 4);
        assert_eq!(a.total_lat().len(), 2);
        assert_eq!(a.dur, Duration::from_secs(1));
        assert!((a.hit_ratio().unwrap() - 2.0 / 3.0).abs() < 1e-9);
        // The slow set dominates the tail of the merged histogram.
        assert!(quantile_us(&a.total_lat(), 0.99) >= 999.0);
    }
}
