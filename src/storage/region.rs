//! Zeroed anonymous memory, reserved up front and backed lazily, advised for transparent huge
//! pages. The slab arena and the index tables live in such regions: a random access into a
//! large table on 4 KiB pages costs a TLB miss and a page walk (two-dimensional under a
//! hypervisor), which is as slow as the cache miss itself. This is the one place in `storage`
//! that makes system calls: `mmap`, `madvise` and `munmap`, nothing else.

use std::ptr::NonNull;

/// Huge page size of x86_64 and aarch64 with 4 KiB base pages; alignment to it lets the
/// kernel back the region with huge pages from the first byte.
const HUGE: usize = 2 << 20;

pub(crate) struct Region {
    /// Start of the usable part, `HUGE`-aligned.
    base: NonNull<u8>,
    len: usize,
    /// The whole mapping (alignment slack included), for `munmap`.
    map: *mut libc::c_void,
    map_len: usize,
}

impl Region {
    /// Reserves `len` bytes of zeroed memory. Nothing is resident until touched, so reserving
    /// a shard's whole memory limit costs address space only (`MAP_NORESERVE`).
    pub fn new(len: usize) -> Result<Region, String> {
        let len = len.max(1).next_multiple_of(4096);
        let map_len = len + HUGE;
        // SAFETY: an anonymous private mapping at an address the kernel picks aliases nothing.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(format!(
                "cannot reserve {len} bytes of address space: {}",
                std::io::Error::last_os_error()
            ));
        }
        let addr = (map as usize).next_multiple_of(HUGE);
        let base = NonNull::new(addr as *mut u8).expect("mmap returned null");
        if len >= HUGE {
            // Only a hint: without THP (or with it off) the region works on small pages.
            // SAFETY: the range lies inside the mapping made above.
            unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
        }
        Ok(Region {
            base,
            len,
            map,
            map_len,
        })
    }

    #[inline(always)]
    pub fn ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Gives the memory of `[off, off + len)` back to the kernel; it reads as zeros afterwards.
    pub fn release(&mut self, off: usize, len: usize) {
        assert!(off.checked_add(len).is_some_and(|e| e <= self.len));
        // Whole base pages only; a partial page at either end stays resident.
        let start = off.next_multiple_of(4096);
        let end = (off + len) & !4095;
        if end > start {
            // SAFETY: the range lies inside this region, which no live reference points into
            // (callers release only memory they no longer hand out).
            unsafe {
                libc::madvise(
                    self.ptr().add(start).cast(),
                    end - start,
                    libc::MADV_DONTNEED,
                )
            };
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no reference outlives `self`.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_aligned_and_released() {
        let mut r = Region::new(3 << 20).unwrap();
        assert_eq!(r.ptr() as usize % HUGE, 0);
        assert!(r.len() >= 3 << 20);
        // SAFETY: in bounds of the region.
        unsafe {
            assert_eq!(*r.ptr().add(12345), 0);
            *r.ptr().add(12345) = 7;
            assert_eq!(*r.ptr().add(12345), 7);
        }
        r.release(8192, 8192);
        // SAFETY: in bounds of the region.
        unsafe { assert_eq!(*r.ptr().add(12345), 0) };
    }
}
