//! Key -> item handle: a bucketized open-addressed table. A bucket is one cache line of 12
//! slots, each a u32 handle plus an 8-bit tag (hash bits that the bucket choice does not use),
//! so a lookup reads one bucket line and then, almost always, only the one item whose tag
//! matches; a miss usually reads no item at all. Nothing is stored in the items.
//!
//! A full bucket spills into the next one; each bucket counts the items that passed over it
//! (`ovf`), so a lookup stops at the first bucket with a zero count and a removal leaves no
//! tombstone. Growth doubles the table and migrates a few home buckets per insert (two tables
//! meanwhile), so no single operation pauses for a full rehash. Tables live in huge-page-advised
//! regions that the kernel hands out zeroed, which is exactly the empty table.

use super::hash::{bucket_bits, hash_key};
use super::item;
use super::region::Region;
use super::slab::{Slab, prefetch};

const SLOTS: usize = 12;
/// 4096 buckets (256 KiB, 49k slots).
const INITIAL_POWER: u32 = 12;
/// Growth starts above this fill of the slots (numerator over 5); at 4/5 about one bucket in
/// six spills, so most lookups still read a single bucket.
const MAX_FILL_FIFTHS: usize = 4;
/// Home buckets migrated per insert while growing: enough to finish after half as many inserts
/// as the old table has buckets, long before the new table fills.
const MIGRATE_PER_INSERT: usize = 2;

/// One cache line. Tag 0 marks an empty slot (real tags are never 0).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Bucket {
    tags: [u8; SLOTS],
    /// Items whose home is this bucket or an earlier one but which sit further on.
    ovf: u32,
    h: [u32; SLOTS],
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

/// Slots of `b` whose tag equals `tag`, as a bit mask.
#[inline(always)]
fn tag_mask(b: &Bucket, tag: u8) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: the first 16 bytes of a bucket are `tags` and `ovf`, readable plain bytes;
        // SSE2 is part of the x86_64 baseline.
        let m = unsafe {
            let v = _mm_loadu_si128((b as *const Bucket).cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(tag as i8))) as u32
        };
        m & ((1 << SLOTS) - 1)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = 0;
        for (i, &t) in b.tags.iter().enumerate() {
            m |= ((t == tag) as u32) << i;
        }
        m
    }
}

/// `a == b` for slices of equal length, inline for the usual key lengths (a `memcmp` call costs
/// more than the comparison).
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    debug_assert_eq!(n, b.len());
    let w = |s: &[u8], o: usize| u64::from_le_bytes(s[o..o + 8].try_into().unwrap());
    match n {
        8..=16 => w(a, 0) == w(b, 0) && w(a, n - 8) == w(b, n - 8),
        17..=32 => {
            w(a, 0) == w(b, 0)
                && w(a, 8) == w(b, 8)
                && w(a, n - 16) == w(b, n - 16)
                && w(a, n - 8) == w(b, n - 8)
        }
        _ => a == b,
    }
}

/// Where an indexed item is: its handle, its chunk and the chunk's class.
pub(crate) type Found<'s> = (u32, &'s [u8], usize);

/// Item `h`, when it holds `key`.
#[inline(always)]
fn holding_key<'s>(slab: &'s Slab, h: u32, key: &[u8]) -> Option<Found<'s>> {
    let (c, class) = slab.chunk_class(h);
    // The byte after the key (where flags or the value start): when that is on a later line
    // than the header, its load starts now instead of after the header arrives, and it covers
    // the key's end and the start of what a reply copies next.
    prefetch(&c[(item::HDR + key.len()).min(c.len() - 1)]);
    (item::klen(c) == key.len() && same_bytes(item::key(c), key)).then_some((h, c, class))
}

#[inline(always)]
fn tag_of(hash: u64) -> u8 {
    // Bits 24..32: below the bucket bits (which start at 32, see `bucket_bits`).
    ((hash >> 24) as u8).max(1)
}

struct Table {
    mem: Region,
    mask: usize,
}

impl Table {
    fn new(power: u32) -> Table {
        let n = 1usize << power;
        // Like a failed Vec allocation, running out of address space is fatal.
        let mem = Region::new(n * std::mem::size_of::<Bucket>()).expect("index table");
        Table { mem, mask: n - 1 }
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.mask + 1
    }

    #[inline(always)]
    fn b(&self, i: usize) -> &Bucket {
        assert!(i <= self.mask);
        // SAFETY: i < len and the region holds len buckets; it is 2 MiB-aligned (so 64-byte
        // aligned) and all-zero or written bytes are a valid `Bucket` (plain integers).
        unsafe { &*self.mem.ptr().cast::<Bucket>().add(i) }
    }

    #[inline(always)]
    fn b_mut(&mut self, i: usize) -> &mut Bucket {
        assert!(i <= self.mask);
        // SAFETY: as in `b`; `&mut self` makes the borrow exclusive.
        unsafe { &mut *self.mem.ptr().cast::<Bucket>().add(i) }
    }

    #[inline(always)]
    fn prefetch(&self, home: usize) {
        prefetch(self.b(home));
    }

    /// (bucket, slot) of the first handle from `home` on whose tag matches and for which
    /// `hit` holds; the probe stops at the first bucket nothing overflowed past.
    #[inline]
    fn probe(
        &self,
        home: usize,
        tag: u8,
        mut hit: impl FnMut(u32) -> bool,
    ) -> Option<(usize, usize)> {
        let mut i = home;
        for _ in 0..self.len() {
            let b = self.b(i);
            let mut m = tag_mask(b, tag);
            while m != 0 {
                let s = m.trailing_zeros() as usize;
                if hit(b.h[s]) {
                    return Some((i, s));
                }
                m &= m - 1;
            }
            if b.ovf == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// (bucket, slot) of the item with `key`.
    #[inline]
    fn find(&self, slab: &Slab, home: usize, tag: u8, key: &[u8]) -> Option<(usize, usize)> {
        self.probe(home, tag, |h| holding_key(slab, h, key).is_some())
    }

    /// Handle and chunk of `key`'s item. The usual case, the first tag match in the home
    /// bucket, is kept short so the CPU can overlap consecutive lookups; anything else goes
    /// through the full probe.
    #[inline]
    fn find_chunk<'s>(
        &self,
        slab: &'s Slab,
        home: usize,
        tag: u8,
        key: &[u8],
    ) -> Option<Found<'s>> {
        let b = self.b(home);
        let m = tag_mask(b, tag);
        if m != 0 {
            let h = b.h[m.trailing_zeros() as usize];
            if let Some(found) = holding_key(slab, h, key) {
                return Some(found);
            }
        } else if b.ovf == 0 {
            return None;
        }
        self.find_slow(slab, home, tag, key)
    }

    #[cold]
    #[inline(never)]
    fn find_slow<'s>(&self, slab: &'s Slab, home: usize, tag: u8, key: &[u8]) -> Option<Found<'s>> {
        let (i, s) = self.find(slab, home, tag, key)?;
        let h = self.b(i).h[s];
        let (c, class) = slab.chunk_class(h);
        Some((h, c, class))
    }

    /// (bucket, slot) holding handle `h`.
    fn find_handle(&self, home: usize, tag: u8, h: u32) -> Option<(usize, usize)> {
        self.probe(home, tag, |x| x == h)
    }

    fn insert(&mut self, home: usize, tag: u8, h: u32) {
        let mut i = home;
        for _ in 0..self.len() {
            let b = self.b_mut(i);
            let free = tag_mask(b, 0);
            if free != 0 {
                let s = free.trailing_zeros() as usize;
                b.tags[s] = tag;
                b.h[s] = h;
                return;
            }
            b.ovf += 1;
            i = (i + 1) & self.mask;
        }
        // Growth keeps the fill far below this (see MIGRATE_PER_INSERT).
        unreachable!("index table full");
    }

    /// Empties slot `s` of bucket `at`, which holds an item whose home is `home`.
    fn remove_at(&mut self, home: usize, at: usize, s: usize) {
        self.b_mut(at).tags[s] = 0;
        let mut i = home;
        while i != at {
            self.b_mut(i).ovf -= 1;
            i = (i + 1) & self.mask;
        }
    }
}

pub(crate) struct Index {
    cur: Table,
    /// The previous table while growing; home buckets below `pos` have been migrated.
    old: Option<Table>,
    pos: usize,
    count: usize,
}

impl Index {
    pub fn new() -> Index {
        Index {
            cur: Table::new(INITIAL_POWER),
            old: None,
            pos: 0,
            count: 0,
        }
    }

    pub fn bytes(&self) -> usize {
        let n = self.cur.len() + self.old.as_ref().map_or(0, |t| t.len());
        n * std::mem::size_of::<Bucket>()
    }

    pub fn power(&self) -> u32 {
        self.cur.len().trailing_zeros()
    }

    pub fn expanding(&self) -> bool {
        self.old.is_some()
    }

    /// The table that owns `hash` and its home bucket there.
    #[inline(always)]
    fn place(&self, hash: u64) -> (&Table, usize) {
        let b = bucket_bits(hash) as usize;
        if let Some(o) = &self.old {
            let i = b & o.mask;
            if i >= self.pos {
                return (o, i);
            }
        }
        (&self.cur, b & self.cur.mask)
    }

    #[inline(always)]
    fn place_mut(&mut self, hash: u64) -> (&mut Table, usize) {
        let b = bucket_bits(hash) as usize;
        if let Some(o) = &mut self.old {
            let i = b & o.mask;
            if i >= self.pos {
                return (o, i);
            }
        }
        let i = b & self.cur.mask;
        (&mut self.cur, i)
    }

    /// First stage of a batched lookup: start loading the home bucket.
    #[inline]
    pub fn prefetch_bucket(&self, hash: u64) {
        let (t, home) = self.place(hash);
        t.prefetch(home);
    }

    /// Second stage: start loading the items whose tags match (the bucket should be cached).
    #[inline]
    pub fn prefetch_head(&self, slab: &Slab, hash: u64) {
        let (t, home) = self.place(hash);
        let b = t.b(home);
        let mut m = tag_mask(b, tag_of(hash));
        while m != 0 {
            slab.prefetch_chunk(b.h[m.trailing_zeros() as usize]);
            m &= m - 1;
        }
    }

    #[inline]
    pub fn find(&self, slab: &Slab, hash: u64, key: &[u8]) -> Option<u32> {
        self.find_chunk(slab, hash, key).map(|(h, ..)| h)
    }

    /// `find`, with the chunk and class it located (a get reads them without locating the
    /// chunk again).
    #[inline]
    pub fn find_chunk<'s>(&self, slab: &'s Slab, hash: u64, key: &[u8]) -> Option<Found<'s>> {
        let (t, home) = self.place(hash);
        t.find_chunk(slab, home, tag_of(hash), key)
    }

    /// Indexes handle `h` (whose key hashes to `hash` and is not indexed yet).
    pub fn insert(&mut self, slab: &Slab, hash: u64, h: u32) {
        let (t, home) = self.place_mut(hash);
        t.insert(home, tag_of(hash), h);
        self.count += 1;
        if self.old.is_none() {
            if self.count > self.cur.len() * SLOTS * MAX_FILL_FIFTHS / 5 {
                let bigger = Table::new(self.power() + 1);
                self.old = Some(std::mem::replace(&mut self.cur, bigger));
                self.pos = 0;
            }
        } else {
            for _ in 0..MIGRATE_PER_INSERT {
                self.migrate_one(slab);
            }
        }
    }

    /// Moves every item whose home in the old table is `pos` to the new table.
    fn migrate_one(&mut self, slab: &Slab) {
        let Some(old) = &mut self.old else {
            return;
        };
        let home = self.pos;
        let mut i = home;
        for _ in 0..old.len() {
            let b = *old.b(i);
            let mut m = !tag_mask(&b, 0) & ((1 << SLOTS) - 1);
            while m != 0 {
                let s = m.trailing_zeros() as usize;
                m &= m - 1;
                let hash = hash_key(item::key(slab.chunk(b.h[s])));
                if bucket_bits(hash) as usize & old.mask == home {
                    old.remove_at(home, i, s);
                    let nh = bucket_bits(hash) as usize & self.cur.mask;
                    self.cur.insert(nh, b.tags[s], b.h[s]);
                }
            }
            // Items of `home` further on would still be counted here.
            if old.b(i).ovf == 0 {
                break;
            }
            i = (i + 1) & old.mask;
        }
        self.pos += 1;
        if self.pos == old.len() {
            self.old = None;
            self.pos = 0;
        }
    }

    /// Unindexes handle `h` (whose key hashes to `hash`); false if it was not indexed.
    pub fn remove(&mut self, hash: u64, h: u32) -> bool {
        let (t, home) = self.place_mut(hash);
        match t.find_handle(home, tag_of(hash), h) {
            Some((i, s)) => {
                t.remove_at(home, i, s);
                self.count -= 1;
                true
            }
            None => false,
        }
    }

    /// Points the index at `to` instead of `from` (same key).
    pub fn relocate(&mut self, hash: u64, from: u32, to: u32) {
        let (t, home) = self.place_mut(hash);
        match t.find_handle(home, tag_of(hash), from) {
            Some((i, s)) => t.b_mut(i).h[s] = to,
            None => debug_assert!(false, "relocating an unindexed item"),
        }
    }

    /// (longest probe in buckets, items, buckets) for diagnostics.
    #[cfg(test)]
    pub fn chain_stats(&self, _slab: &Slab) -> (usize, usize, usize) {
        let mut max = 0;
        for t in std::iter::once(&self.cur).chain(self.old.as_ref()) {
            let mut run = 0;
            for i in 0..t.len() {
                run = if t.b(i).ovf > 0 { run + 1 } else { 0 };
                max = max.max(run + 1);
            }
        }
        (max, self.count, self.cur.len())
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
            idx.insert(&slab, hash_key(&key), h);
            handles.push(h);
            if i % 9973 == 0 {
                // Lookups stay right in the middle of a migration too.
                let k = (i / 2).to_le_bytes();
                assert_eq!(
                    idx.find(&slab, hash_key(&k), &k),
                    Some(handles[i as usize / 2])
                );
            }
        }
        assert!(idx.power() > INITIAL_POWER);
        assert!(idx.len() <= idx.cur.len() * SLOTS * MAX_FILL_FIFTHS / 5);
        for i in 0..n {
            let key = i.to_le_bytes();
            assert_eq!(
                idx.find(&slab, hash_key(&key), &key),
                Some(handles[i as usize])
            );
        }
        for i in (0..n).step_by(2) {
            let key = i.to_le_bytes();
            assert!(idx.remove(hash_key(&key), handles[i as usize]));
            assert!(!idx.remove(hash_key(&key), handles[i as usize]));
        }
        for i in 0..n {
            let key = i.to_le_bytes();
            let found = idx.find(&slab, hash_key(&key), &key);
            assert_eq!(found.is_some(), i % 2 == 1);
        }
        assert_eq!(idx.len(), n as usize / 2);
        // Spill counts return to zero once every item is gone.
        for i in (1..n).step_by(2) {
            let key = i.to_le_bytes();
            assert!(idx.remove(hash_key(&key), handles[i as usize]));
        }
        for t in std::iter::once(&idx.cur).chain(idx.old.as_ref()) {
            assert!((0..t.len()).all(|i| t.b(i).ovf == 0 && t.b(i).tags == [0; SLOTS]));
        }
    }

    #[test]
    fn same_bytes_agrees_with_eq() {
        let a: Vec<u8> = (0..40u8).collect();
        for n in 0..40 {
            for flip in 0..n {
                let mut b = a[..n].to_vec();
                assert!(same_bytes(&a[..n], &b));
                b[flip] ^= 1;
                assert!(!same_bytes(&a[..n], &b));
            }
        }
    }

    #[test]
    fn spills_into_next_buckets_and_back() {
        // Many items with one home: they spill over several buckets and stay findable.
        let mut t = Table::new(4);
        for h in 0..40u32 {
            t.insert(3, 7, h);
        }
        assert_eq!(t.b(3).ovf, 28);
        assert_eq!(t.b(5).ovf, 4);
        for h in 0..40u32 {
            let (i, s) = t.find_handle(3, 7, h).unwrap();
            t.remove_at(3, i, s);
        }
        assert!((0..t.len()).all(|i| t.b(i).ovf == 0));
        assert!(t.find_handle(3, 7, 0).is_none());
    }
}
