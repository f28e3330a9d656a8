//! Slab arena: size classes (min chunk growing by the growth factor, no rounding), 1 MiB pages
//! taken lazily up to the memory limit, per-class free lists, fully-free page tracking and page
//! hand-over between classes. Items above page_size/2 get one exact allocation each (the large
//! class), charged as whole pages so the limit always holds.
//!
//! Regular pages live in huge-page-advised regions reserved for the whole limit (`Arena`): slot
//! `p` is the `p`-th page of it (live slots never outnumber the limit's pages, since each charges
//! at least one; a raised limit adds a region, a lowered one leaves the address space). Memory
//! is only resident once a page is carved, and goes back to the kernel when a page is released.
//!
//! A handle is `page_slot << bits | chunk_index`, `NIL` = none.

use super::StoreConfig;
use super::arena::Arena;
use super::item::{self, USED};
use super::lru::List;

pub(crate) const NIL: u32 = u32::MAX;
const NO_CLASS: u16 = u16::MAX;
/// memcached's MAX_SLAB_CLASSES is 64; the same cap keeps class ids small.
const MAX_CLASSES: usize = 63;

struct Page {
    /// First byte of the page: in the arena, or in `large` for a large-item slot.
    base: *mut u8,
    /// Bytes behind `base` (0 for a free slot); every chunk access is checked against it.
    len: usize,
    /// The allocation of a large item (kept only to own it; accessed through `base`). A `Vec`
    /// rather than a `Box`: moving a `Box` asserts unique access under Rust's aliasing rules,
    /// which would invalidate `base`; moving a `Vec` does not.
    large: Option<Vec<u8>>,
    /// Chunk size, or the item size for a large-item slot.
    chunk: u32,
    class: u16,
    used: u32,
    /// Pages charged against the limit (1 for a regular page).
    charged: u32,
    in_empty: bool,
}

pub(crate) struct SlabClass {
    pub size: u32,
    pub per_page: u32,
    pub pages: u32,
    pub free: List,
    pub ever: bool,
}

pub(crate) struct Slab {
    arena: Arena,
    pages: Vec<Page>,
    free_slots: Vec<u32>,
    /// Candidates for fully-free pages; validated when popped.
    empty: Vec<u32>,
    pub classes: Vec<SlabClass>,
    /// Index of the large-item class (last entry of `classes`).
    pub large: usize,
    page_size: usize,
    limit_pages: usize,
    charged: usize,
    bits: u32,
    mask: u32,
}

impl Slab {
    pub fn new(cfg: &StoreConfig) -> Result<Slab, String> {
        let (limit_pages, bits) = Self::geometry(cfg)?;
        let classes = Self::classes(cfg);
        let ps = cfg.page_size;
        let arena = Arena::new(limit_pages, ps)?;
        Ok(Slab {
            arena,
            pages: Vec::new(),
            free_slots: Vec::new(),
            empty: Vec::new(),
            large: classes.len() - 1,
            classes,
            page_size: ps,
            limit_pages,
            charged: 0,
            bits,
            mask: (1 << bits) - 1,
        })
    }

    /// Checks `cfg`; returns the page limit and how many bits of a handle number a chunk
    /// within its page.
    fn geometry(cfg: &StoreConfig) -> Result<(usize, u32), String> {
        let ps = cfg.page_size;
        if !(4096..=(1 << 30)).contains(&ps) {
            return Err(format!("page size {ps} must be between 4 KiB and 1 GiB"));
        }
        if !(cfg.growth_factor > 1.0 && cfg.growth_factor.is_finite()) {
            return Err(format!(
                "growth factor {} must be greater than 1.0",
                cfg.growth_factor
            ));
        }
        let min_ok = item::HDR + 1;
        if cfg.min_chunk < min_ok {
            return Err(format!(
                "minimum chunk size {} is too small: an item needs {} header bytes plus a key",
                cfg.min_chunk,
                item::HDR
            ));
        }
        let max_chunk = ps / 2;
        if cfg.min_chunk > max_chunk {
            return Err(format!(
                "minimum chunk size {} exceeds the largest chunk ({max_chunk} = page size / 2)",
                cfg.min_chunk
            ));
        }
        if cfg.max_item_size > 128 << 20 {
            return Err(format!(
                "max item size {} exceeds 128 MiB",
                cfg.max_item_size
            ));
        }
        if cfg.max_item_size < item::HDR_MAX + 2 {
            return Err(format!("max item size {} is too small", cfg.max_item_size));
        }
        let max_per_page = (ps / cfg.min_chunk) as u32;
        let bits = 32 - max_per_page.leading_zeros();
        let limit_pages = Self::pages_within(cfg.mem_limit, ps, bits)?;
        Ok((limit_pages, bits))
    }

    /// The page budget of `mem_limit` bytes, if handles of `bits` chunk bits can number it.
    fn pages_within(mem_limit: usize, ps: usize, bits: u32) -> Result<usize, String> {
        let limit_pages = mem_limit / ps;
        if limit_pages == 0 {
            return Err(format!(
                "memory limit {mem_limit} is below one page ({ps} bytes)"
            ));
        }
        if (limit_pages as u64) << bits >= u32::MAX as u64 {
            return Err(format!(
                "memory limit {mem_limit} too large for one shard with these chunk sizes"
            ));
        }
        Ok(limit_pages)
    }

    pub fn limit_fits(&self, mem_limit: usize) -> bool {
        Self::pages_within(mem_limit, self.page_size, self.bits).is_ok()
    }

    /// Sets a new page budget of `mem_limit` bytes. Pages already charged above it stay
    /// until the caller frees them; no new page is taken meanwhile.
    pub fn set_limit(&mut self, mem_limit: usize) -> Result<(), String> {
        let pages = Self::pages_within(mem_limit, self.page_size, self.bits)?;
        self.arena.cover(pages)?;
        self.limit_pages = pages;
        Ok(())
    }

    /// The classes of a valid `cfg`: chunk sizes growing by its factor up to half a page,
    /// then the large-item class.
    fn classes(cfg: &StoreConfig) -> Vec<SlabClass> {
        let ps = cfg.page_size;
        let max_chunk = ps / 2;
        let mut sizes = Vec::new();
        let mut size = cfg.min_chunk as f64;
        while sizes.len() < MAX_CLASSES - 1 && size <= max_chunk as f64 / cfg.growth_factor {
            let s = size as u32;
            if sizes.last() != Some(&s) {
                sizes.push(s);
            }
            size *= cfg.growth_factor;
        }
        if sizes.last() != Some(&(max_chunk as u32)) {
            sizes.push(max_chunk as u32);
        }
        let mut classes: Vec<SlabClass> = sizes
            .iter()
            .map(|&s| SlabClass {
                size: s,
                per_page: (ps / s as usize) as u32,
                pages: 0,
                free: List::default(),
                ever: false,
            })
            .collect();
        classes.push(SlabClass {
            size: cfg.max_item_size as u32,
            per_page: 1,
            pages: 0,
            free: List::default(),
            ever: false,
        });
        classes
    }

    /// Class for an item of `total` bytes (the large class above page_size / 2).
    #[inline]
    pub fn class_for(&self, total: usize) -> usize {
        let regular = &self.classes[..self.large];
        regular.partition_point(|c| (c.size as usize) < total)
    }

    pub fn pages_for_large(&self, total: usize) -> usize {
        total.div_ceil(self.page_size)
    }

    pub fn limit_pages(&self) -> usize {
        self.limit_pages
    }

    pub fn charged_pages(&self) -> usize {
        self.charged
    }

    #[inline]
    pub fn page_of(&self, h: u32) -> usize {
        (h >> self.bits) as usize
    }

    #[inline]
    pub fn class_of(&self, h: u32) -> usize {
        self.pages[self.page_of(h)].class as usize
    }

    /// Start, size and class of a chunk; panics on a handle outside its page.
    #[inline(always)]
    fn locate(&self, h: u32) -> (*mut u8, usize, usize) {
        let p = &self.pages[(h >> self.bits) as usize];
        let size = p.chunk as usize;
        let off = (h & self.mask) as usize * size;
        assert!(off + size <= p.len, "bad handle {h:#x}");
        // SAFETY: off + size <= len, and `base` points at `len` bytes owned by this slab.
        (unsafe { p.base.add(off) }, size, p.class as usize)
    }

    /// The whole chunk behind a handle.
    #[inline]
    pub fn chunk(&self, h: u32) -> &[u8] {
        self.chunk_class(h).0
    }

    /// `chunk` and `class_of` from one page lookup.
    #[inline]
    pub fn chunk_class(&self, h: u32) -> (&[u8], usize) {
        let (ptr, size, class) = self.locate(h);
        // SAFETY: in bounds (see `locate`); the slab owns the memory and `&self` keeps it alive
        // and unchanged for the borrow.
        (unsafe { std::slice::from_raw_parts(ptr, size) }, class)
    }

    #[inline]
    pub fn chunk_mut(&mut self, h: u32) -> &mut [u8] {
        let (ptr, size, _) = self.locate(h);
        // SAFETY: as in `chunk`; `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(ptr, size) }
    }

    /// Asks the CPU to start loading the first two lines of a chunk (a header and a short key
    /// often straddle a line boundary, since chunks are not line-aligned).
    #[inline]
    pub fn prefetch_chunk(&self, h: u32) {
        if let Some(p) = self.pages.get((h >> self.bits) as usize) {
            let off = (h & self.mask) as usize * p.chunk as usize;
            if off < p.len {
                let a = p.base.wrapping_add(off);
                prefetch_ptr(a);
                prefetch_ptr(a.wrapping_add(64));
            }
        }
    }

    #[inline]
    pub fn link(&self, h: u32, off: usize) -> u32 {
        item::rd32(self.chunk(h), off)
    }

    #[inline]
    pub fn set_link(&mut self, h: u32, off: usize, v: u32) {
        item::wr32(self.chunk_mut(h), off, v)
    }

    /// Handles of every chunk of regular page `p`.
    pub fn page_handles(&self, p: usize) -> impl Iterator<Item = u32> + use<> {
        let per = self.classes[self.pages[p].class as usize].per_page;
        let base = (p as u32) << self.bits;
        (0..per).map(move |i| base | i)
    }

    pub fn pop_free(&mut self, c: usize) -> Option<u32> {
        let mut l = self.classes[c].free;
        let h = l.pop_head(self)?;
        self.classes[c].free = l;
        let p = self.page_of(h);
        self.pages[p].used += 1;
        Some(h)
    }

    /// Returns a chunk to its class (or the memory of a large item to the budget).
    pub fn free_chunk(&mut self, h: u32) {
        let p = self.page_of(h);
        let c = self.pages[p].class as usize;
        if c == self.large {
            self.classes[c].pages -= 1;
            self.release_slot(p);
            return;
        }
        item::set_word(self.chunk_mut(h), 0);
        let mut l = self.classes[c].free;
        l.push_head(self, h);
        self.classes[c].free = l;
        let pg = &mut self.pages[p];
        pg.used -= 1;
        if pg.used == 0 && !pg.in_empty {
            pg.in_empty = true;
            self.empty.push(p as u32);
        }
    }

    /// Page slots ever used (some may be free now); for full scans.
    pub fn slot_count(&self) -> usize {
        self.pages.len()
    }

    /// Handles of every chunk in slot `p` (empty for a free slot; one for a large item).
    pub fn slot_handles(&self, p: usize) -> std::ops::Range<u32> {
        let pg = &self.pages[p];
        let base = (p as u32) << self.bits;
        match pg.class {
            NO_CLASS => base..base,
            c if c as usize == self.large => base..base + 1,
            c => base..base + self.classes[c as usize].per_page,
        }
    }

    fn new_slot(&mut self, page: Page) -> usize {
        self.charged += page.charged as usize;
        if let Some(s) = self.free_slots.pop() {
            self.pages[s as usize] = page;
            s as usize
        } else {
            self.pages.push(page);
            self.pages.len() - 1
        }
    }

    fn release_slot(&mut self, p: usize) {
        let pg = &mut self.pages[p];
        self.charged -= pg.charged as usize;
        if pg.large.take().is_none() && pg.len != 0 {
            self.arena.release(p);
        }
        pg.base = std::ptr::null_mut();
        pg.len = 0;
        pg.class = NO_CLASS;
        pg.charged = 0;
        pg.used = 0;
        pg.in_empty = false;
        self.free_slots.push(p as u32);
    }

    /// Splits page `p` into free chunks of class `c`.
    fn carve(&mut self, p: usize, c: usize) {
        let size = self.classes[c].size;
        let per = self.classes[c].per_page;
        let pg = &mut self.pages[p];
        pg.class = c as u16;
        pg.chunk = size;
        pg.used = 0;
        pg.in_empty = false;
        self.classes[c].pages += 1;
        self.classes[c].ever = true;
        let base = (p as u32) << self.bits;
        let mut l = self.classes[c].free;
        // Reverse so chunks are handed out in address order.
        for i in (0..per).rev() {
            let h = base | i;
            // Old contents of a reused page could look like a USED word.
            item::set_word(self.chunk_mut(h), 0);
            l.push_head(self, h);
        }
        self.classes[c].free = l;
    }

    /// A new page for class `c` if the limit allows.
    pub fn grow(&mut self, c: usize) -> bool {
        if self.charged + 1 > self.limit_pages {
            return false;
        }
        // The slot is only known once taken, so the memory is attached below.
        let page = Page {
            base: std::ptr::null_mut(),
            len: 0,
            large: None,
            chunk: 0,
            class: NO_CLASS,
            used: 0,
            charged: 1,
            in_empty: false,
        };
        let p = self.new_slot(page);
        // Slot p < limit_pages (see the module comment), so the arena covers it.
        self.pages[p].base = self.arena.page(p);
        self.pages[p].len = self.page_size;
        self.carve(p, c);
        true
    }

    fn pop_empty(&mut self, not_class: usize) -> Option<usize> {
        while let Some(p) = self.empty.pop() {
            let p = p as usize;
            let pg = &mut self.pages[p];
            if !pg.in_empty {
                continue;
            }
            pg.in_empty = false;
            if pg.class == NO_CLASS || pg.class as usize == self.large || pg.used != 0 {
                continue;
            }
            if pg.class as usize == not_class {
                // Its chunks are already on c's free list; nothing to gain.
                continue;
            }
            return Some(p);
        }
        None
    }

    /// Removes the free chunks of page `p` from its class free list and detaches it.
    pub fn detach_page(&mut self, p: usize) {
        let c = self.pages[p].class as usize;
        let mut l = self.classes[c].free;
        for h in self.page_handles(p) {
            if item::word(self.chunk(h)) & USED == 0 {
                l.unlink(self, h);
            }
        }
        self.classes[c].free = l;
        self.classes[c].pages -= 1;
        self.pages[p].used = 0;
        self.pages[p].in_empty = false;
    }

    /// Clears the used bit of a chunk of a page being detached (its item moved or evicted).
    pub fn clear_used(&mut self, h: u32) {
        item::set_word(self.chunk_mut(h), 0);
    }

    /// Gives a detached page to class `c`.
    pub fn give_page(&mut self, p: usize, c: usize) {
        self.carve(p, c);
    }

    /// Returns a detached page's memory to the budget.
    pub fn release_page(&mut self, p: usize) {
        self.release_slot(p);
    }

    /// Reassigns a fully free page of another class to `c`.
    pub fn take_empty_page(&mut self, c: usize) -> bool {
        match self.pop_empty(c) {
            Some(p) => {
                self.detach_page(p);
                self.carve(p, c);
                true
            }
            None => false,
        }
    }

    /// Drops a fully free regular page to make budget room for a large item.
    pub fn release_empty_page(&mut self) -> bool {
        match self.pop_empty(usize::MAX) {
            Some(p) => {
                self.detach_page(p);
                self.release_slot(p);
                true
            }
            None => false,
        }
    }

    /// One exact allocation for a large item, if the limit allows.
    pub fn alloc_large(&mut self, total: usize) -> Option<u32> {
        let need = self.pages_for_large(total);
        if self.charged + need > self.limit_pages {
            return None;
        }
        let mut mem = vec![0u8; total];
        let page = Page {
            base: mem.as_mut_ptr(),
            len: total,
            large: Some(mem),
            chunk: total as u32,
            class: self.large as u16,
            used: 1,
            charged: need as u32,
            in_empty: false,
        };
        let p = self.new_slot(page);
        self.classes[self.large].pages += 1;
        self.classes[self.large].ever = true;
        Some((p as u32) << self.bits)
    }

    /// Copies the first `len` bytes of chunk `src` into chunk `dst` (different chunks).
    pub fn copy_chunk(&mut self, src: u32, dst: u32, len: usize) {
        assert_ne!(src, dst);
        let (s, ss, _) = self.locate(src);
        let (d, ds, _) = self.locate(dst);
        assert!(len <= ss && len <= ds);
        // SAFETY: both ranges are in bounds (see `locate`) and distinct chunks never overlap.
        unsafe { std::ptr::copy_nonoverlapping(s, d, len) };
    }
}

// SAFETY: the raw page pointers point into memory the slab owns (its arena region or a boxed
// large item), never shared with another value, so moving the slab to another thread is as
// safe as moving a `Vec<Box<[u8]>>`.
unsafe impl Send for Slab {}

/// A cache prefetch hint; no effect on other architectures.
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    prefetch_ptr((r as *const T).cast::<u8>());
}

/// Like `prefetch`, for an address that need not be valid.
#[inline(always)]
pub(crate) fn prefetch_ptr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: prefetch is only a hint: it never faults or changes memory, whatever the
        // address, and SSE is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_sizes_follow_n_and_f() {
        let s = Slab::new(&StoreConfig::default()).unwrap();
        let sizes: Vec<u32> = s.classes[..6].iter().map(|c| c.size).collect();
        assert_eq!(sizes, vec![48, 60, 75, 93, 117, 146]);
        assert_eq!(s.classes[s.large - 1].size, 512 * 1024);
        assert_eq!(s.classes[0].per_page, (1 << 20) / 48);
        let cfg = StoreConfig {
            min_chunk: 100,
            growth_factor: 2.0,
            ..Default::default()
        };
        let s = Slab::new(&cfg).unwrap();
        let sizes: Vec<u32> = s.classes[..4].iter().map(|c| c.size).collect();
        assert_eq!(sizes, vec![100, 200, 400, 800]);
        assert_eq!(s.class_for(100), 0);
        assert_eq!(s.class_for(101), 1);
        assert_eq!(s.class_for(512 * 1024), s.large - 1);
        assert_eq!(s.class_for(512 * 1024 + 1), s.large);
    }

    #[test]
    fn page_accounting() {
        let cfg = StoreConfig {
            mem_limit: 3 << 20,
            ..Default::default()
        };
        let mut s = Slab::new(&cfg).unwrap();
        let c = s.class_for(100);
        assert!(s.grow(c));
        assert!(s.grow(c));
        let per = s.classes[c].per_page as usize;
        let hs: Vec<u32> = (0..per).map(|_| s.pop_free(c).unwrap()).collect();
        assert_eq!(s.classes[c].free.len as usize, per);
        // A large item needs 2 pages; only 1 left.
        assert!(s.alloc_large((1 << 20) + 1).is_none());
        let big = s.alloc_large(700_000).unwrap();
        assert_eq!(s.charged_pages(), 3);
        assert!(!s.grow(c));
        s.free_chunk(big);
        assert_eq!(s.charged_pages(), 2);
        // Freeing a whole page makes it available to another class.
        for h in hs {
            s.free_chunk(h);
        }
        let d = s.class_for(1000);
        assert!(s.take_empty_page(d));
        assert_eq!(s.classes[c].pages, 1);
        assert_eq!(s.classes[c].free.len as usize, per);
        assert_eq!(s.classes[d].pages, 1);
        assert!(s.pop_free(d).is_some());
        assert!(s.release_empty_page() || s.charged_pages() == 2);
    }

    #[test]
    fn rejects_nonsense() {
        let bad = [
            StoreConfig {
                growth_factor: 1.0,
                ..Default::default()
            },
            StoreConfig {
                min_chunk: 10,
                ..Default::default()
            },
            StoreConfig {
                max_item_size: (128 << 20) + 1,
                ..Default::default()
            },
            StoreConfig {
                mem_limit: 1000,
                ..Default::default()
            },
        ];
        for cfg in bad {
            assert!(Slab::new(&cfg).is_err());
        }
        let ok = StoreConfig {
            max_item_size: 128 << 20,
            ..Default::default()
        };
        assert!(Slab::new(&ok).is_ok());
    }
}
