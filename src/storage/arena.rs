//! The slab arena's address space: regular page slot `p` keeps one address for the life of
//! the store. It starts as one region covering the limit's pages; raising the limit at run
//! time (`cache_memlimit`) adds a region for the new slots, so no live page ever moves.

use super::region::Region;

pub(crate) struct Arena {
    page_size: usize,
    /// (first slot, region) in slot order; together they cover slots `0..covered`.
    regions: Vec<(usize, Region)>,
    covered: usize,
}

impl Arena {
    pub fn new(pages: usize, page_size: usize) -> Result<Arena, String> {
        let mut a = Arena {
            page_size,
            regions: Vec::new(),
            covered: 0,
        };
        a.cover(pages)?;
        Ok(a)
    }

    /// Makes slots `0..pages` addressable (reserving address space only).
    pub fn cover(&mut self, pages: usize) -> Result<(), String> {
        if pages > self.covered {
            let r = Region::new((pages - self.covered) * self.page_size)?;
            self.regions.push((self.covered, r));
            self.covered = pages;
        }
        Ok(())
    }

    /// The region holding slot `p` and the slot's offset in it.
    fn find(&self, p: usize) -> (&Region, usize) {
        assert!(p < self.covered, "page slot {p} beyond the arena");
        let (first, r) = self
            .regions
            .iter()
            .rev()
            .find(|(first, _)| *first <= p)
            .expect("regions start at slot 0");
        (r, (p - first) * self.page_size)
    }

    /// First byte of slot `p`'s page.
    pub fn page(&self, p: usize) -> *mut u8 {
        let (r, off) = self.find(p);
        debug_assert!(off + self.page_size <= r.len());
        // SAFETY: `find` checked that the slot lies inside this region.
        unsafe { r.ptr().add(off) }
    }

    /// Gives slot `p`'s memory back to the kernel.
    pub fn release(&mut self, p: usize) {
        let ps = self.page_size;
        let i = self
            .regions
            .iter()
            .rposition(|(first, _)| *first <= p)
            .expect("regions start at slot 0");
        let (first, r) = &mut self.regions[i];
        r.release((p - *first) * ps, ps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_keeps_old_pages_and_addresses_new_ones() {
        let mut a = Arena::new(2, 4096).unwrap();
        let p1 = a.page(1);
        // SAFETY: slot 1 is a whole page of this arena.
        unsafe { p1.write(7) };
        a.cover(5).unwrap();
        assert_eq!(a.page(1), p1);
        // SAFETY: as above; slot 4 was added by `cover`.
        unsafe {
            assert_eq!(p1.read(), 7);
            a.page(4).write(9);
        }
        a.release(4);
        a.cover(3).unwrap();
        assert_eq!(a.regions.len(), 2);
    }
}
