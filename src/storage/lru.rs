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

/// Unfinished `stats cachedump` walks a shard keeps its place for at once; a further one
/// takes over the place least recently used (whose walk then ends early), so a client that
/// leaves a dump half read costs nothing lasting.
const MARKS: usize = 4;

/// Where an unfinished head-to-tail walk resumes: `at` is the next item it lists (NIL: the
/// list's end). `id` 0 is a free place.
#[derive(Clone, Copy)]
struct Mark {
    at: u32,
    id: u32,
    used: u64,
}

const FREE_MARK: Mark = Mark {
    at: NIL,
    id: 0,
    used: 0,
};

/// The per-class LRUs (the large class last), the reclaim crawler's cursor, which walks
/// them tail to head, and the cachedump marks, which walk them head to tail. Every unlink
/// and relocation goes through here, which keeps the cursor and the marks on a live item
/// (or NIL): a place in a list stays valid however the list changes between two steps.
pub(crate) struct Lrus {
    lists: Vec<List>,
    crawl_class: usize,
    /// Next item the crawler examines.
    crawl_cursor: u32,
    /// Next item an `lru_crawler crawl` job examines (`crawl.rs`), tail to head like the
    /// crawler's own; NIL between classes.
    pub job_cursor: u32,
    marks: [Mark; MARKS],
    /// Hands out mark ids and orders their use.
    mark_clock: u64,
}

impl Lrus {
    pub fn new(classes: usize) -> Self {
        Lrus {
            lists: vec![List::default(); classes],
            crawl_class: 0,
            crawl_cursor: NIL,
            job_cursor: NIL,
            marks: [FREE_MARK; MARKS],
            mark_clock: 0,
        }
    }

    /// Keeps a place at item `h` for a walk to resume from; the token names it (never 0).
    pub fn mark(&mut self, h: u32) -> u64 {
        let slot = (0..MARKS)
            .min_by_key(|&i| (self.marks[i].id != 0, self.marks[i].used))
            .unwrap_or(0);
        self.mark_clock += 1;
        let id = (self.mark_clock as u32).max(1);
        self.marks[slot] = Mark {
            at: h,
            id,
            used: self.mark_clock,
        };
        (u64::from(id) << 8) | slot as u64
    }

    /// The item a mark is at, unless the mark was released or taken over.
    pub fn mark_at(&self, token: u64) -> Option<u32> {
        let m = self.marks.get((token & 0xff) as usize)?;
        (m.id != 0 && u64::from(m.id) == token >> 8).then_some(m.at)
    }

    /// Moves a mark (named by a token `mark_at` accepts) on to item `h`.
    pub fn move_mark(&mut self, token: u64, h: u32) {
        self.mark_clock += 1;
        let m = &mut self.marks[(token & 0xff) as usize];
        (m.at, m.used) = (h, self.mark_clock);
    }

    /// Gives a mark's place back, if the token still names it.
    pub fn unmark(&mut self, token: u64) {
        if self.mark_at(token).is_some() {
            self.marks[(token & 0xff) as usize] = FREE_MARK;
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
        if h == self.job_cursor {
            self.job_cursor = s.link(h, OFF_PREV);
        }
        for m in &mut self.marks {
            if m.at == h {
                m.at = s.link(h, OFF_NEXT);
            }
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
        if self.job_cursor == from {
            self.job_cursor = to;
        }
        for m in &mut self.marks {
            if m.at == from {
                m.at = to;
            }
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

    /// A cachedump mark stays on a listed item as the list changes: unlinking the item under
    /// it steps it towards the tail, a relocation carries it along; released or taken-over
    /// marks are refused.
    #[test]
    fn marks_survive_unlink_and_relocate() {
        let mut s = Slab::new(&StoreConfig::default()).unwrap();
        let c = s.class_for(40);
        assert!(s.grow(c));
        let h: Vec<u32> = (0..6).map(|_| s.pop_free(c).unwrap()).collect();
        let mut l = Lrus::new(s.classes.len());
        for &x in &h[..4] {
            l.push_head(&mut s, c, x);
        }
        // Head to tail: h3 h2 h1 h0.
        let m = l.mark(h[2]);
        assert_ne!(m, 0);
        l.unlink(&mut s, c, h[2]);
        assert_eq!(l.mark_at(m), Some(h[1]));
        s.copy_chunk(h[1], h[4], 8);
        l.relocate(&mut s, c, h[1], h[4]);
        assert_eq!(l.mark_at(m), Some(h[4]));
        l.move_to_head(&mut s, c, h[4]);
        assert_eq!(l.mark_at(m), Some(h[0]));
        l.unlink(&mut s, c, h[0]);
        assert_eq!(l.mark_at(m), Some(NIL));
        l.move_mark(m, h[3]);
        assert_eq!(l.mark_at(m), Some(h[3]));
        l.unmark(m);
        assert_eq!(l.mark_at(m), None);
        // More walks than places: the least recently used is taken over.
        let first = l.mark(h[3]);
        let later: Vec<u64> = (0..MARKS).map(|_| l.mark(h[3])).collect();
        assert_eq!(l.mark_at(first), None);
        assert!(later.iter().all(|&t| l.mark_at(t) == Some(h[3])));
    }
}
