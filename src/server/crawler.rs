//! The LRU crawler's process-wide state, as `lru_crawler` sets it and `stats` reports it:
//! on or off, `tocrawl` and `sleep`, and whether a crawl or a metadump is running. Each
//! shard does its own part of a crawl (server/runtime.rs's reclaim task, storage's
//! `crawl.rs`); this only tells them apart from "nothing running" for every connection.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

pub struct Crawler {
    /// `lru_crawler enable|disable`, `-o lru_crawler|no_lru_crawler`. Off, the background
    /// reclaim stops too, as memcached's crawler thread does.
    enabled: AtomicBool,
    pub tocrawl: AtomicU32,
    pub sleep_us: AtomicU32,
    /// Parts of the running crawl not yet done: a shard's crawl job, or a metadump.
    running: AtomicUsize,
    starts: AtomicU64,
}

/// memcached's `lru_crawler_sleep` default, in microseconds.
pub const DEFAULT_SLEEP_US: u32 = 100;

/// Why a crawl or a metadump could not start, in memcached's words.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Disabled,
    Busy,
    /// A class list with no class in it (`lru_crawler crawl ,`).
    NoClasses,
}

impl Crawler {
    pub fn new(enabled: bool) -> Self {
        Crawler {
            enabled: AtomicBool::new(enabled),
            tocrawl: AtomicU32::new(0),
            sleep_us: AtomicU32::new(DEFAULT_SLEEP_US),
            running: AtomicUsize::new(0),
            starts: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// `lru_crawler enable`: false if it was on already (memcached cannot start a second
    /// crawler thread).
    pub fn enable(&self) -> bool {
        !self.enabled.swap(true, Ordering::Relaxed)
    }

    pub fn disable(&self) {
        self.enabled.store(false, Ordering::Relaxed);
    }

    pub fn running(&self) -> bool {
        self.running.load(Ordering::Acquire) > 0
    }

    pub fn starts(&self) -> u64 {
        self.starts.load(Ordering::Relaxed)
    }

    /// Claims the crawler for `parts` parts of work (shards crawling, or one metadump),
    /// each given back with [`Crawler::part_done`].
    pub fn claim(&self, parts: usize) -> Result<(), Refused> {
        if !self.enabled() {
            return Err(Refused::Disabled);
        }
        self.running
            .compare_exchange(0, parts, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| Refused::Busy)?;
        self.starts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// [`Crawler::claim`] for a crawl of the classes in the mask: an empty mask starts
    /// nothing, though a running crawl is reported first, as memcached checks in that order.
    pub fn claim_classes(&self, classes: u64, parts: usize) -> Result<(), Refused> {
        match classes {
            0 if !self.enabled() => Err(Refused::Disabled),
            0 if self.running() => Err(Refused::Busy),
            0 => Err(Refused::NoClasses),
            _ => self.claim(parts),
        }
    }

    pub fn part_done(&self) {
        let _ = self
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// A metadump's hold on the crawler, given back however the dump ends.
pub struct Claim<'a>(pub &'a Crawler);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.part_done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_crawl_at_a_time_and_only_when_enabled() {
        let c = Crawler::new(false);
        assert_eq!(c.claim(2), Err(Refused::Disabled));
        assert!(c.enable() && !c.enable());
        c.claim(2).unwrap();
        assert!(c.running());
        assert_eq!(c.claim(1), Err(Refused::Busy));
        c.part_done();
        assert!(c.running());
        c.part_done();
        assert!(!c.running());
        drop(Claim(&c));
        assert!(!c.running(), "never below zero");
        c.claim(1).unwrap();
        assert_eq!(c.starts(), 2);
    }
}
