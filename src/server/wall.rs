//! A shard's wall clock without a clock read per batch: unix time made from the executor's
//! lap reading (glommio patch 19) and an anchor to the real-time clock, renewed each second.

use crate::storage::unix_us;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long one anchor serves. Between anchors the mapping follows the monotonic clock,
/// which NTP slews at the same rate as the real-time one, so a step of the real-time clock
/// (`date -s`) or a system suspend (the monotonic clock stops) goes unseen for at most this
/// long.
const ANCHOR_FOR: Duration = Duration::from_secs(1);

/// An anchor whose two reads were further apart than this (the thread was preempted
/// between them) is taken again: the gap would skew every time mapped from it.
const ANCHOR_GAP: Duration = Duration::from_micros(20);

pub struct Wall {
    /// A monotonic reading and the unix µs it stands for.
    anchor: Cell<(Instant, u64)>,
    /// The last reading mapped and its result: the batches of one turn of the task queue
    /// share a lap reading (75 instructions a request less at four connections).
    last: Cell<(Instant, u64)>,
}

impl Wall {
    pub fn new() -> Wall {
        let anchor = take_anchor();
        Wall {
            anchor: Cell::new(anchor),
            last: Cell::new((anchor.0, anchor.1 / 1000)),
        }
    }

    /// Unix milliseconds at monotonic reading `t`.
    pub fn unix_ms(&self, t: Instant) -> u64 {
        let (last_t, last_ms) = self.last.get();
        if t == last_t {
            return last_ms;
        }
        let (mut at, mut at_us) = self.anchor.get();
        let mut ahead = t.checked_duration_since(at);
        if ahead.is_some_and(|d| d >= ANCHOR_FOR) {
            (at, at_us) = take_anchor();
            self.anchor.set((at, at_us));
            ahead = t.checked_duration_since(at);
        }
        let us = match ahead {
            Some(ahead) => at_us + ahead.as_micros() as u64,
            // A reading taken before the anchor (a lap's, just after a new anchor).
            None => at_us.saturating_sub((at - t).as_micros() as u64),
        };
        let ms = us / 1000;
        self.last.set((t, ms));
        ms
    }
}

/// A monotonic reading and the real-time clock's unix µs at that moment: the midpoint of
/// two monotonic reads around the real-time one, retried a few times if they are far apart.
fn take_anchor() -> (Instant, u64) {
    let mut best = (Duration::MAX, (Instant::now(), 0));
    for _ in 0..4 {
        let before = Instant::now();
        let us = unix_us();
        let gap = before.elapsed();
        if gap < best.0 {
            best = (gap, (before + gap / 2, us));
        }
        if gap <= ANCHOR_GAP {
            break;
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::unix_ms;

    /// The real-time clock's ms bracketing `f`, for comparing without a tolerance that a
    /// descheduled test thread could exceed.
    fn bracket<T>(f: impl FnOnce() -> T) -> (u64, T, u64) {
        let lo = unix_ms();
        let v = f();
        (lo, v, unix_ms())
    }

    #[test]
    fn follows_the_monotonic_clock_from_its_anchor() {
        let (lo, (wall, t0), hi) = bracket(|| (Wall::new(), Instant::now()));
        let ms0 = wall.unix_ms(t0);
        // A millisecond either way for the anchor's own error and the rounding.
        assert!(lo - 1 <= ms0 && ms0 <= hi + 1, "{lo} {ms0} {hi}");
        // Exact arithmetic from the same anchor, forwards and backwards.
        let (at, at_us) = wall.anchor.get();
        let ms = |t: Instant| match t.checked_duration_since(at) {
            Some(d) => (at_us + d.as_micros() as u64) / 1000,
            None => (at_us - (at - t).as_micros() as u64) / 1000,
        };
        let later = t0 + Duration::from_millis(250);
        assert_eq!(wall.unix_ms(later), ms(later));
        assert_eq!(wall.unix_ms(later), ms0 + 250);
        let earlier = t0 - Duration::from_millis(40);
        assert_eq!(wall.unix_ms(earlier), ms(earlier));
        assert_eq!(wall.anchor.get(), (at, at_us));
    }

    #[test]
    fn an_anchor_a_second_old_is_renewed_and_the_reading_keeps_its_own_time() {
        let wall = Wall::new();
        // As though the anchor had been taken two seconds ago.
        let (at, at_us) = wall.anchor.get();
        let old = at - Duration::from_secs(2);
        wall.anchor.set((old, at_us - 2_000_000));
        // A lap reading from 5 ms ago: past the old anchor's second, before the new one.
        let (lo, (t, ms), hi) = bracket(|| {
            let t = Instant::now() - Duration::from_millis(5);
            (t, wall.unix_ms(t))
        });
        assert!(wall.anchor.get().0 > old, "renewed");
        assert!(lo - 6 <= ms && ms <= hi - 4, "{lo} {ms} {hi}");
        // The new anchor serves the same reading without another renewal.
        let anchor = wall.anchor.get();
        assert_eq!(wall.unix_ms(t), ms);
        assert_eq!(wall.anchor.get(), anchor);
    }
}
