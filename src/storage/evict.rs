//! Eviction policy: where a chunk comes from when a class has no free one (a fresh page, an
//! empty page, dead tail items, another class's page, the class's own LRU tail), and how a
//! page moves between classes.

use super::{MAX_RESCUES, MOVE_CHECK_EVERY, Memory, RECLAIM_PEEK};
use crate::storage::clock::{Clock, Life};
use crate::storage::item::{self, ACTIVE, OFF_PREV, USED};
use crate::storage::slab::NIL;

impl Memory {
    fn oom(&mut self, c: usize) -> Option<u32> {
        self.stats.outofmemory += 1;
        self.cls[c].outofmemory += 1;
        None
    }

    /// A chunk of class `c` for an item of `total` bytes, making room if it must; None
    /// (counted as out of memory) when nothing can go.
    pub fn alloc(&mut self, c: usize, total: usize, clock: &Clock) -> Option<u32> {
        if c == self.slab.large {
            return self.alloc_large(total, clock);
        }
        if let Some(h) = self.slab.pop_free(c) {
            return Some(h);
        }
        // No timer crawls for expired items while the shard sleeps, so a class about to
        // take another page first frees the dead items at its tail, as memcached's crawler
        // would have done in the background.
        if self.reclaim_tail(c, clock) > 0
            && let Some(h) = self.slab.pop_free(c)
        {
            return Some(h);
        }
        if self.slab.grow(c) || self.slab.take_empty_page(c) {
            return self.slab.pop_free(c);
        }
        if !self.evictions {
            return self.oom(c);
        }
        for _ in 0..4 {
            match self.pick_victim(c, clock) {
                Some(t) => self.take_page_of(t, Some(c), clock),
                // The victim's chunk is of class c: take it as it is rather than through the
                // free list.
                None => match self.evict_tail(c, true, clock) {
                    Some(h) => return Some(h),
                    None => break,
                },
            }
            if let Some(h) = self.slab.pop_free(c) {
                return Some(h);
            }
            // Evicting a large item frees budget rather than chunks.
            if self.slab.grow(c) {
                return self.slab.pop_free(c);
            }
        }
        self.oom(c)
    }

    fn alloc_large(&mut self, total: usize, clock: &Clock) -> Option<u32> {
        let large = self.slab.large;
        if self.slab.pages_for_large(total) > self.slab.limit_pages() {
            return self.oom(large);
        }
        // Every round frees something or gives up, so this ends.
        loop {
            if let Some(h) = self.slab.alloc_large(total) {
                return Some(h);
            }
            if self.slab.release_empty_page() || self.reclaim_tail(large, clock) > 0 {
                continue;
            }
            if !self.evictions {
                return self.oom(large);
            }
            if let Some(t) = self.pick_victim(large, clock) {
                self.take_page_of(t, None, clock);
            } else if self.evict_tail(large, false, clock).is_none() {
                return self.oom(large);
            }
        }
    }

    /// Frees dead items among the last few of class `c`'s LRU.
    fn reclaim_tail(&mut self, c: usize, clock: &Clock) -> usize {
        let mut h = self.lru.tail(c);
        let mut freed = 0;
        for _ in 0..RECLAIM_PEEK {
            if h == NIL {
                break;
            }
            let prev = self.slab.link(h, OFF_PREV);
            if self.life(h, clock) != Life::Alive {
                self.drop_item(h, self.hash_of(h), clock);
                freed += 1;
            }
            h = prev;
        }
        // Under steady eviction the next call peeks one item further; start loading it.
        if h != NIL {
            self.slab.prefetch_chunk(h);
        }
        freed
    }

    /// Evicts class `c`'s tail, first moving a bounded number of active tail items to the head.
    /// Returns the victim's handle; with `reuse` its chunk stays allocated for the caller
    /// instead of going back to the free list.
    fn evict_tail(&mut self, c: usize, reuse: bool, clock: &Clock) -> Option<u32> {
        let mut rescues = 0;
        loop {
            let t = self.lru.tail(c);
            if t == NIL {
                return None;
            }
            let w = item::word(self.slab.chunk(t));
            if w & ACTIVE != 0 && rescues < MAX_RESCUES && self.lru.len(c) > 1 {
                item::set_word(self.slab.chunk_mut(t), w & !ACTIVE);
                self.lru.move_to_head(&mut self.slab, c, t);
                rescues += 1;
                self.stats.moves_within_lru += 1;
                self.cls[c].moves_within_lru += 1;
                continue;
            }
            let hash = self.hash_of(t);
            self.count_drop(t, clock);
            self.detach(t, hash);
            if !reuse {
                self.slab.free_chunk(t);
            }
            self.hint_victim(c);
            return Some(t);
        }
    }

    /// The tail item of another class whose page should go to `c`, if any: when `c` has no
    /// items, the oldest tail anywhere; otherwise a tail more than twice as old as `c`'s, in a
    /// class with more than one page. Ages are measured on the version clock, so they order
    /// writes even when the wall clock stands still.
    fn pick_victim(&mut self, c: usize, clock: &Clock) -> Option<u32> {
        let large = self.slab.large;
        let own_tail = self.lru.tail(c);
        let now_v = clock.now_version();
        let own_age = if own_tail != NIL {
            self.move_tick[c] = self.move_tick[c].wrapping_add(1);
            if !self.move_tick[c].is_multiple_of(MOVE_CHECK_EVERY) {
                return None;
            }
            Some(now_v.saturating_sub(item::version(self.slab.chunk(own_tail))))
        } else {
            None
        };
        let mut best: Option<(u64, u32)> = None;
        for v in 0..self.lru.classes() {
            let t = self.lru.tail(v);
            if v == c || t == NIL {
                continue;
            }
            let b = self.slab.chunk(t);
            if own_age.is_some()
                && (item::word(b) & ACTIVE != 0 || (v != large && self.slab.classes[v].pages <= 1))
            {
                continue;
            }
            let age = now_v.saturating_sub(item::version(b));
            if best.is_none_or(|(a, _)| age > a) {
                best = Some((age, t));
            }
        }
        let (age, t) = best?;
        match own_age {
            Some(own) if age <= own.saturating_mul(2) => None,
            _ => Some(t),
        }
    }

    /// Empties the page holding item `t` (live items move to free chunks of their class when
    /// there are any, else are evicted) and gives it to class `to`, or frees its memory.
    fn take_page_of(&mut self, t: u32, to: Option<usize>, clock: &Clock) {
        let v = self.slab.class_of(t);
        if v == self.slab.large {
            self.drop_item(t, self.hash_of(t), clock);
            return;
        }
        let p = self.slab.page_of(t);
        // Items of the page move to other chunks without `detach`.
        self.victim_hint.0 = NIL;
        self.slab.detach_page(p);
        for h in self.slab.page_handles(p) {
            if item::word(self.slab.chunk(h)) & USED == 0 {
                continue;
            }
            let hash = self.hash_of(h);
            if self.life(h, clock) == Life::Alive
                && let Some(d) = self.slab.pop_free(v)
            {
                let total = item::total(self.slab.chunk(h));
                self.slab.copy_chunk(h, d, total);
                self.lru.relocate(&mut self.slab, v, h, d);
                self.index.relocate(hash, h, d);
            } else {
                self.count_drop(h, clock);
                self.detach(h, hash);
            }
            self.slab.clear_used(h);
        }
        match to {
            Some(c) => self.slab.give_page(p, c),
            None => self.slab.release_page(p),
        }
        self.stats.slabs_moved += 1;
    }

    /// A new memory limit (`cache_memlimit`): over it, frees pages until the budget holds,
    /// fully free ones first, then the page of the oldest LRU tail anywhere (its live items
    /// move into free chunks of their class, else are evicted). Under -M only free pages go.
    pub fn set_limit(&mut self, bytes: usize, clock: &Clock) -> Result<(), String> {
        self.slab.set_limit(bytes)?;
        // Every round releases a page or a large item, or stops.
        while self.slab.charged_pages() > self.slab.limit_pages() {
            if self.slab.release_empty_page() {
                continue;
            }
            if !self.evictions {
                break;
            }
            match self.oldest_tail(clock) {
                Some(t) => self.take_page_of(t, None, clock),
                None => break,
            }
        }
        Ok(())
    }

    /// The LRU tail written longest ago, over every class.
    fn oldest_tail(&self, clock: &Clock) -> Option<u32> {
        let now_v = clock.now_version();
        (0..self.lru.classes())
            .map(|v| self.lru.tail(v))
            .filter(|&t| t != NIL)
            .max_by_key(|&t| now_v.saturating_sub(item::version(self.slab.chunk(t))))
    }
}
