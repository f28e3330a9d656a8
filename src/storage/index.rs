//! Key -> item handle: an intrusive chained hash table. Buckets are u32 heads, the chain link
//! lives in the item header, so the index costs 4 bytes per bucket and nothing per item beyond
//! the header. Growth doubles the table and migrates a few buckets per insert (two tables
//! meanwhile), so no single operation pauses for a full rehash.

use super::hash::{bucket_bits, hash_key};
use super::item;
use super::slab::{NIL, Slab, prefetch};

const INITIAL_POWER: u32 = 16;
/// Buckets migrated per insert while growing; enough to finish long before the next growth.
const MIGRATE_PER_INSERT: usize = 4;

pub(crate) struct Index {
    cur: Vec<u32>,
    /// The previous table while growing; buckets below `pos` have been migrated.
    old: Vec<u32>,
    pos: usize,
    count: usize,
}

impl Index {
    pub fn new() -> Index {
        Index {
            cur: vec![NIL; 1 << INITIAL_POWER],
            old: Vec::new(),
            pos: 0,
            count: 0,
        }
    }

    pub fn bytes(&self) -> usize {
        (self.cur.len() + self.old.len()) * 4
    }

    pub fn power(&self) -> u32 {
        self.cur.len().trailing_zeros()
    }

    pub fn expanding(&self) -> bool {
        !self.old.is_empty()
    }

    /// The bucket head that owns `hash`: (in old table?, index).
    #[inline]
    fn slot(&self, hash: u64) -> (bool, usize) {
        let b = bucket_bits(hash) as usize;
        if !self.old.is_empty() {
            let i = b & (self.old.len() - 1);
            if i >= self.pos {
                return (true, i);
            }
        }
        (false, b & (self.cur.len() - 1))
    }

    #[inline]
    fn head(&self, s: (bool, usize)) -> u32 {
        if s.0 { self.old[s.1] } else { self.cur[s.1] }
    }

    #[inline]
    fn set_head(&mut self, s: (bool, usize), h: u32) {
        if s.0 {
            self.old[s.1] = h;
        } else {
            self.cur[s.1] = h;
        }
    }

    /// First stage of a batched lookup: start loading the bucket head.
    #[inline]
    pub fn prefetch_bucket(&self, hash: u64) {
        let (old, i) = self.slot(hash);
        prefetch(if old { &self.old[i] } else { &self.cur[i] });
    }

    /// Second stage: start loading the first item of the chain (the bucket should be cached).
    #[inline]
    pub fn prefetch_head(&self, slab: &Slab, hash: u64) {
        let h = self.head(self.slot(hash));
        if h != NIL {
            slab.prefetch_chunk(h);
        }
    }

    #[inline]
    pub fn find(&self, slab: &Slab, hash: u64, key: &[u8]) -> Option<u32> {
        let mut h = self.head(self.slot(hash));
        while h != NIL {
            let c = slab.chunk(h);
            if item::klen(c) == key.len() && item::key(c) == key {
                return Some(h);
            }
            h = item::rd32(c, item::OFF_HNEXT);
        }
        None
    }

    pub fn insert(&mut self, slab: &mut Slab, hash: u64, h: u32) {
        let s = self.slot(hash);
        slab.set_hnext(h, self.head(s));
        self.set_head(s, h);
        self.count += 1;
        if self.old.is_empty() {
            if self.count > self.cur.len() + self.cur.len() / 2 {
                let n = self.cur.len() * 2;
                self.old = std::mem::replace(&mut self.cur, vec![NIL; n]);
                self.pos = 0;
            }
        } else {
            for _ in 0..MIGRATE_PER_INSERT {
                self.migrate_one(slab);
            }
        }
    }

    fn migrate_one(&mut self, slab: &mut Slab) {
        if self.old.is_empty() {
            return;
        }
        let mut h = self.old[self.pos];
        self.old[self.pos] = NIL;
        let mask = self.cur.len() - 1;
        while h != NIL {
            let next = slab.hnext(h);
            let hash = hash_key(item::key(slab.chunk(h)));
            let b = bucket_bits(hash) as usize & mask;
            slab.set_hnext(h, self.cur[b]);
            self.cur[b] = h;
            h = next;
        }
        self.pos += 1;
        if self.pos == self.old.len() {
            self.old = Vec::new();
            self.pos = 0;
        }
    }

    /// Unlinks handle `h` (whose key hashes to `hash`); false if it was not indexed.
    pub fn remove(&mut self, slab: &mut Slab, hash: u64, h: u32) -> bool {
        let s = self.slot(hash);
        let mut cur = self.head(s);
        if cur == h {
            self.set_head(s, slab.hnext(h));
            self.count -= 1;
            return true;
        }
        while cur != NIL {
            let next = slab.hnext(cur);
            if next == h {
                slab.set_hnext(cur, slab.hnext(h));
                self.count -= 1;
                return true;
            }
            cur = next;
        }
        false
    }

    /// Points the index at `to` instead of `from`; `to` already holds a copy of `from`'s header.
    pub fn relocate(&mut self, slab: &mut Slab, hash: u64, from: u32, to: u32) {
        let s = self.slot(hash);
        let mut cur = self.head(s);
        if cur == from {
            self.set_head(s, to);
            return;
        }
        while cur != NIL {
            let next = slab.hnext(cur);
            if next == from {
                slab.set_hnext(cur, to);
                return;
            }
            cur = next;
        }
        debug_assert!(false, "relocating an unindexed item");
    }

    #[cfg(test)]
    pub fn chain_stats(&self, slab: &Slab) -> (usize, usize, usize) {
        let (mut max, mut tot) = (0, 0);
        for &b in self.cur.iter().chain(self.old.iter()) {
            let mut h = b;
            let mut l = 0;
            while h != NIL {
                l += 1;
                h = slab.hnext(h);
            }
            max = max.max(l);
            tot += l;
        }
        (max, tot, self.cur.len())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreConfig;

    #[test]
    fn many_keys_survive_rehash() {
        let cfg = StoreConfig {
            mem_limit: 64 << 20,
            ..Default::default()
        };
        let mut slab = Slab::new(&cfg).unwrap();
        let mut idx = Index::new();
        let c = slab.class_for(item::total_len(8, 0, 0));
        let n = 300_000u64;
        let mut handles = Vec::new();
        for i in 0..n {
            let h = match slab.pop_free(c) {
                Some(h) => h,
                None => {
                    assert!(slab.grow(c));
                    slab.pop_free(c).unwrap()
                }
            };
            let key = i.to_le_bytes();
            item::write(slab.chunk_mut(h), &key, 0, 0, i, b"", b"");
            idx.insert(&mut slab, hash_key(&key), h);
            handles.push(h);
        }
        assert!(idx.power() > INITIAL_POWER);
        assert!(idx.len() as f64 <= idx.cur.len() as f64 * 1.5);
        for i in 0..n {
            let key = i.to_le_bytes();
            assert_eq!(
                idx.find(&slab, hash_key(&key), &key),
                Some(handles[i as usize])
            );
        }
        for i in (0..n).step_by(2) {
            let key = i.to_le_bytes();
            assert!(idx.remove(&mut slab, hash_key(&key), handles[i as usize]));
        }
        for i in 0..n {
            let key = i.to_le_bytes();
            let found = idx.find(&slab, hash_key(&key), &key);
            assert_eq!(found.is_some(), i % 2 == 1);
        }
        assert_eq!(idx.len(), n as usize / 2);
    }
}
