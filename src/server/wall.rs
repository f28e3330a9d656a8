//! A shard's wall clock without a clock read per batch: unix time made from the executor's
//! lap reading (glommio patch 19) and an anchor to the real-time clock, renewed each second.

use crate::storage::unix_us;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long one anchor serves. Between anchors the mapping follows the monotonic clock,
/// which NTP slews at the same rate as the real-time one, so only a step of the real-time
/// clock (`date -s`) goes unseen, for at most this long.
const ANCHOR_FOR: Duration = Duration::from_secs(1);

pub struct Wall {
    at: Cell<Instant>,
    unix_us: Cell<u64>,
}

impl Wall {
    pub fn new() -> Wall {
        Wall {
            at: Cell::new(Instant::now()),
            unix_us: Cell::new(unix_us()),
        }
    }

    /// Unix milliseconds at monotonic reading `t`.
    pub fn unix_ms(&self, t: Instant) -> u64 {
        let at = self.at.get();
        let us = match t.checked_duration_since(at) {
            Some(d) if d < ANCHOR_FOR => self.unix_us.get() + d.as_micros() as u64,
            Some(_) => {
                let (now, now_us) = (Instant::now(), unix_us());
                self.at.set(now);
                self.unix_us.set(now_us);
                match t.checked_duration_since(now) {
                    Some(ahead) => now_us + ahead.as_micros() as u64,
                    None => now_us.saturating_sub((now - t).as_micros() as u64),
                }
            }
            // A reading taken before the anchor (a lap's, after a fresh anchor).
            None => self
                .unix_us
                .get()
                .saturating_sub((at - t).as_micros() as u64),
        };
        us / 1000
    }
}

impl Default for Wall {
    fn default() -> Wall {
        Wall::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_monotonic_clock_between_anchors_and_the_real_one_across_them() {
        let wall = Wall::new();
        let t0 = Instant::now();
        let ms0 = wall.unix_ms(t0);
        assert!(ms0.abs_diff(crate::storage::unix_ms()) <= 2, "{ms0}");
        assert_eq!(wall.unix_ms(t0 + Duration::from_millis(250)), ms0 + 250);
        // Before the anchor: counted back from it.
        assert_eq!(wall.unix_ms(t0 - Duration::from_millis(40)), ms0 - 40);
        // A reading past the anchor's second renews it from the real-time clock, and the
        // result is that reading's time, not the renewal's.
        let later = Instant::now() + Duration::from_secs(3);
        let ms = wall.unix_ms(later);
        assert!(ms.abs_diff(crate::storage::unix_ms() + 3000) <= 2, "{ms}");
        assert!(wall.at.get() <= later && wall.at.get() >= t0);
    }
}
