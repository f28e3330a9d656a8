//! The LRU crawler's work on one shard: the background reclaim step, and an `lru_crawler
//! crawl` job over chosen classes, walked a bounded step at a time from each LRU's tail.
//! Both free the expired and flushed items they meet and count them as memcached's crawler
//! does (`crawler_reclaimed`, `crawler_items_checked`, per class and in total).

use super::Memory;
use crate::storage::clock::{Clock, Life};
use crate::storage::item::{self, FETCHED, OFF_PREV};
use crate::storage::slab::NIL;

/// How long the background crawl leaves a freshly written item alone, dead or not. An item
/// set already expired (an absolute time in the past) or flushed right after it was set is
/// then still there for the client's next read, which memcached counts as `get_expired` /
/// `get_flushed` (its crawler is seldom that quick); freed at once it would count a plain
/// miss, as t/stats.t showed whenever a busy host delayed its next command by 10 ms. No
/// TTL is shorter than a second, so a live item's expiry is never held back by this.
const RECLAIM_GRACE_MS: u64 = 1_000;

/// An `lru_crawler crawl` in progress on this shard.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CrawlJob {
    /// Bit i: class index i is to be crawled.
    classes: u64,
    /// The class being crawled, or None before the first.
    class: Option<usize>,
    /// Items still to examine in that class.
    left: u32,
    /// memcached's `lru_crawler tocrawl`: items per class at most (0: all).
    tocrawl: u32,
}

impl Memory {
    /// Starts a crawl of the classes in the mask (bit i = class index i), replacing any
    /// unfinished one. Each class is walked from its tail over the items it holds now (at
    /// most `tocrawl` of them when not 0), so a crawl ends however fast items arrive.
    pub fn start_crawl(&mut self, classes: u64, tocrawl: u32) {
        self.job = Some(CrawlJob {
            classes,
            class: None,
            left: 0,
            tocrawl,
        });
        self.lru.job_cursor = NIL;
    }

    /// True while a crawl job has items left.
    pub fn crawling(&self) -> bool {
        self.job.is_some()
    }

    /// One step of the crawl job: examines up to `budget` items; true while items remain.
    pub fn crawl_step(&mut self, budget: usize, clock: &Clock) -> bool {
        let Some(mut job) = self.job.take() else {
            return false;
        };
        let mut examined = 0;
        while examined < budget {
            let h = self.lru.job_cursor;
            if h == NIL || job.left == 0 {
                let from = job.class.map_or(0, |c| c + 1);
                let next = (from..self.lru.classes().min(64)).find(|&c| job.classes >> c & 1 == 1);
                let Some(c) = next else {
                    self.lru.job_cursor = NIL;
                    return false;
                };
                let len = self.lru.len(c);
                job.class = Some(c);
                job.left = if job.tocrawl == 0 {
                    len
                } else {
                    len.min(job.tocrawl)
                };
                self.lru.job_cursor = self.lru.tail(c);
                continue;
            }
            self.lru.job_cursor = self.slab.link(h, OFF_PREV);
            job.left -= 1;
            examined += 1;
            self.crawl_item(h, clock);
        }
        self.job = Some(job);
        true
    }

    /// One step of the background crawl: examines up to `budget` items, walking each
    /// class's LRU from the tail, and frees the dead ones; returns how many it freed.
    /// Items written in the last [`RECLAIM_GRACE_MS`] are left for a later step.
    pub fn reclaim_step(&mut self, budget: usize, clock: &Clock) -> usize {
        let mut switches = self.lru.classes();
        let mut freed = 0;
        for _ in 0..budget {
            let Some(h) = self.lru.crawl(&self.slab, &mut switches) else {
                break;
            };
            if clock.written_within(item::version(self.slab.chunk(h)), RECLAIM_GRACE_MS) {
                continue;
            }
            freed += usize::from(self.crawl_item(h, clock));
        }
        freed
    }

    /// The crawler examines item `h`: counted as checked, and freed (counted as the
    /// crawler's reclaim) when expired or flushed. True if it was freed.
    fn crawl_item(&mut self, h: u32, clock: &Clock) -> bool {
        let (b, c) = self.slab.chunk_class(h);
        self.stats.crawler_items_checked += 1;
        self.cls[c].crawler_items_checked += 1;
        let life = self.life(h, clock);
        if life == Life::Alive {
            return false;
        }
        // As memcached's crawler: a flushed item was not left to expire unread.
        let unfetched = item::word(b) & FETCHED == 0 && life == Life::Expired;
        let k = &mut self.cls[c];
        self.stats.crawler_reclaimed += 1;
        k.crawler_reclaimed += 1;
        if unfetched {
            self.stats.expired_unfetched += 1;
            k.expired_unfetched += 1;
        }
        self.unlink(h, self.hash_of(h));
        true
    }
}
