//! Intrusive doubly-linked lists over slab chunks, linked by u32 handles stored in the chunk
//! headers. Used for the per-class LRU (items) and the per-class free lists (free chunks);
//! [`Lrus`] holds the per-class LRUs and the reclaim crawler's place in them.

use super::item::{OFF_NEXT, OFF_PREV};
use super::slab::{NIL, Slab};

#[derive(Clone, Copy, Debug)]
pub(crate) struct List {
    pub head: u32,
    pub tail: u32,
    pub len: u32,
}

impl Default for List {
    fn default() -> Self {
        List {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

impl List {
    pub fn push_head(&mut self, s: &mut Slab, h: u32) {
        s.set_link(h, OFF_PREV, NIL);
        s.set_link(h, OFF_NEXT, self.head);
        if self.head != NIL {
            s.set_link(self.head, OFF_PREV, h);
        } else {
            self.tail = h;
        }
        self.head = h;
        self.len += 1;
    }

    pub fn unlink(&mut self, s: &mut Slab, h: u32) {
        let prev = s.link(h, OFF_PREV);
        let next = s.link(h, OFF_NEXT);
        if prev != NIL {
            s.set_link(prev, OFF_NEXT, next);
        } else {
            self.head = next;
        }
        if next != NIL {
            s.set_link(next, OFF_PREV, prev);
        } else {
            self.tail = prev;
        }
        self.len -= 1;
    }

    pub fn pop_head(&mut self, s: &mut Slab) -> Option<u32> {
        let h = self.head;
        if h == NIL {
            return None;
        }
        self.unlink(s, h);
        Some(h)
    }

    /// `to` takes `from`'s place; `to` must already carry a copy of `from`'s links.
    pub fn relocate(&mut self, s: &mut Slab, from: u32, to: u32) {
        let prev = s.link(to, OFF_PREV);
        let next = s.link(to, OFF_NEXT);
        if prev != NIL {
            s.set_link(prev, OFF_NEXT, to);
        } else {
            debug_assert_eq!(self.head, from);
            self.head = to;
        }
        if next != NIL {
            s.set_link(next, OFF_PREV, to);
        } else {
            debug_assert_eq!(self.tail, from);
            self.tail = to;
        }
    }
}

/// The per-class LRUs (the large class last) and the reclaim crawler's cursor, which walks
/// them tail to head. Every unlink and relocation goes through here, which keeps the cursor
/// on a live item (or NIL).
pub(crate) struct Lrus {
    lists: Vec<List>,
    crawl_class: usize,
    /// Next item the crawler examines.
    crawl_cursor: u32,
}

impl Lrus {
    pub fn new(classes: usize) -> Self {
        Lrus {
            lists: vec![List::default(); classes],
            crawl_class: 0,
            crawl_cursor: NIL,
        }
    }

    pub fn classes(&self) -> usize {
        self.lists.len()
    }

    #[inline]
    pub fn tail(&self, c: usize) -> u32 {
        self.lists[c].tail
    }

    /// Class `c`'s newest item.
    pub fn head(&self, c: usize) -> u32 {
        self.lists[c].head
    }

    pub fn len(&self, c: usize) -> u32 {
        self.lists[c].len
    }

    pub fn push_head(&mut self, s: &mut Slab, c: usize, h: u32) {
        self.lists[c].push_head(s, h);
    }

    pub fn unlink(&mut self, s: &mut Slab, c: usize, h: u32) {
        if h == self.crawl_cursor {
            self.crawl_cursor = s.link(h, OFF_PREV);
        }
        self.lists[c].unlink(s, h);
    }

    pub fn move_to_head(&mut self, s: &mut Slab, c: usize, h: u32) {
        self.unlink(s, c, h);
        self.lists[c].push_head(s, h);
    }

    /// `to` takes `from`'s place; `to` must already carry a copy of `from`'s links.
    pub fn relocate(&mut self, s: &mut Slab, c: usize, from: u32, to: u32) {
        self.lists[c].relocate(s, from, to);
        if self.crawl_cursor == from {
            self.crawl_cursor = to;
        }
    }

    /// The next item for the crawler, moving on to the next class's tail when one class is
    /// done, at most `*switches` times; the cursor moves past the item first, so the caller
    /// may unlink it.
    pub fn crawl(&mut self, s: &Slab, switches: &mut usize) -> Option<u32> {
        loop {
            let h = self.crawl_cursor;
            if h != NIL {
                self.crawl_cursor = s.link(h, OFF_PREV);
                return Some(h);
            }
            if *switches == 0 {
                return None;
            }
            *switches -= 1;
            self.crawl_class = (self.crawl_class + 1) % self.lists.len();
            self.crawl_cursor = self.lists[self.crawl_class].tail;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreConfig;

    fn collect(l: &List, s: &Slab) -> Vec<u32> {
        let mut v = Vec::new();
        let mut h = l.head;
        while h != NIL {
            v.push(h);
            h = s.link(h, OFF_NEXT);
        }
        let mut back = Vec::new();
        let mut h = l.tail;
        while h != NIL {
            back.push(h);
            h = s.link(h, OFF_PREV);
        }
        back.reverse();
        assert_eq!(v, back);
        assert_eq!(v.len(), l.len as usize);
        v
    }

    #[test]
    fn link_unlink_relocate() {
        let mut s = Slab::new(&StoreConfig::default()).unwrap();
        let c = s.class_for(40);
        assert!(s.grow(c));
        let h: Vec<u32> = (0..5).map(|_| s.pop_free(c).unwrap()).collect();
        let mut l = List::default();
        for &x in &h[..4] {
            l.push_head(&mut s, x);
        }
        assert_eq!(collect(&l, &s), vec![h[3], h[2], h[1], h[0]]);
        l.unlink(&mut s, h[2]);
        assert_eq!(collect(&l, &s), vec![h[3], h[1], h[0]]);
        l.unlink(&mut s, h[0]);
        l.unlink(&mut s, h[3]);
        assert_eq!(collect(&l, &s), vec![h[1]]);
        s.copy_chunk(h[1], h[4], 8);
        l.relocate(&mut s, h[1], h[4]);
        assert_eq!(collect(&l, &s), vec![h[4]]);
        assert_eq!(l.pop_head(&mut s), Some(h[4]));
        assert_eq!(l.pop_head(&mut s), None);
        assert_eq!((l.head, l.tail), (NIL, NIL));
    }

    /// The crawler's cursor stays on a listed item whatever moves: unlinking the item under
    /// it steps it on, relocating that item moves it along, a move to the head takes it.
    #[test]
    fn crawl_cursor_survives_unlink_and_relocate() {
        let mut s = Slab::new(&StoreConfig::default()).unwrap();
        let c = s.class_for(40);
        assert!(s.grow(c));
        let h: Vec<u32> = (0..6).map(|_| s.pop_free(c).unwrap()).collect();
        let mut l = Lrus::new(s.classes.len());
        for &x in &h[..4] {
            l.push_head(&mut s, c, x);
        }
        // Tail to head: h0 h1 h2 h3; the crawler is at class c's tail, with no switches
        // left it stops at the class's end.
        (l.crawl_class, l.crawl_cursor) = (c, l.tail(c));
        let mut switches = 0;
        assert_eq!(l.crawl(&s, &mut switches), Some(h[0]));
        assert_eq!(l.crawl_cursor, h[1]);
        l.unlink(&mut s, c, h[1]);
        assert_eq!(l.crawl_cursor, h[2]);
        s.copy_chunk(h[2], h[4], 8);
        l.relocate(&mut s, c, h[2], h[4]);
        assert_eq!(l.crawl_cursor, h[4]);
        l.move_to_head(&mut s, c, h[4]);
        assert_eq!(l.crawl_cursor, h[3]);
        assert_eq!(collect(&l.lists[c], &s), vec![h[4], h[3], h[0]]);
        assert_eq!((l.tail(c), l.len(c)), (h[0], 3));
        assert_eq!(l.crawl(&s, &mut switches), Some(h[3]));
        assert_eq!(l.crawl(&s, &mut switches), Some(h[4]));
        assert_eq!(l.crawl(&s, &mut switches), None);
    }
}
