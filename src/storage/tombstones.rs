//! Delete tombstones for twin replication: a deleted key and the version of its delete, kept
//! for a bounded time and count, so that an older write from the twin cannot resurrect it.

use std::collections::{HashMap, VecDeque};

/// At most this many tombstones per shard; the oldest go first beyond it.
const MAX_TOMBSTONES: usize = 1 << 20;

/// Deleted keys and the version of their delete, kept for a bounded time.
#[derive(Default)]
pub(crate) struct Tombstones {
    pub ttl_secs: u32,
    pub map: HashMap<Vec<u8>, (u64, u32)>,
    /// (expires, key) in insertion order; entries superseded in `map` are skipped.
    order: VecDeque<(u32, Vec<u8>)>,
    /// Entries ever taken off the front of `order`: with it, a position in `order` stays
    /// valid across expiries, so a full copy can list tombstones a step at a time.
    popped: u64,
}

impl Tombstones {
    pub fn get(&self, key: &[u8]) -> Option<u64> {
        self.map.get(key).map(|&(v, _)| v)
    }

    pub fn put(&mut self, key: &[u8], version: u64, now: u32) {
        if self.ttl_secs == 0 {
            return;
        }
        let expires = now.saturating_add(self.ttl_secs);
        let e = self.map.entry(key.to_vec()).or_insert((version, expires));
        e.0 = e.0.max(version);
        e.1 = expires;
        self.order.push_back((expires, key.to_vec()));
        self.expire(now);
        // `order` also holds superseded entries (a key deleted again); bound it too.
        while self.map.len() > MAX_TOMBSTONES || self.order.len() > 2 * MAX_TOMBSTONES {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        let front = self.order.pop_front();
        self.popped += u64::from(front.is_some());
        if let Some((exp, key)) = front
            && self.map.get(&key).is_some_and(|&(_, e)| e == exp)
        {
            self.map.remove(&key);
        }
    }

    fn expire(&mut self, now: u32) {
        while self.order.front().is_some_and(|(e, _)| *e <= now) {
            self.pop_oldest();
        }
    }

    /// Calls `f` with each live tombstone's key and version in insertion order, from
    /// position `pos` (0 first), at most `max` entries examined; returns the position to
    /// continue from, or None at the end. A key deleted again is listed once, at its latest
    /// delete; tombstones that expire between calls are not listed.
    pub fn scan(&self, pos: u64, max: usize, mut f: impl FnMut(&[u8], u64)) -> Option<u64> {
        let start = pos.saturating_sub(self.popped) as usize;
        let end = start.saturating_add(max).min(self.order.len());
        for (exp, key) in self.order.range(start.min(end)..end) {
            if let Some(&(version, e)) = self.map.get(key)
                && e == *exp
            {
                f(key, version);
            }
        }
        (end < self.order.len()).then_some(self.popped + end as u64)
    }

    pub fn remove(&mut self, key: &[u8]) {
        // Most applies find no tombstone; skip hashing the key for an empty map.
        if !self.map.is_empty() {
            self.map.remove(key);
        }
    }
}
