//! Splitting a request line into space-separated words, the way memcached's tokenizer does.

/// Space-separated words of a request line (what follows the command name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys<'a>(pub &'a [u8]);

impl<'a> Keys<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        Words::new(self.0).map(|(_, w)| w)
    }
}

/// Where `byte` first is in `s`. Words and request lines are mostly a few bytes long, and
/// there a plain loop beats SIMD `memchr`'s set-up: parsing a one-key get went from 873
/// to 666 instructions (`bash benches/instructions.sh`, glommio patch 13's entry). Long
/// lines (multi-gets) still get the SIMD scan.
#[inline]
pub(crate) fn find(byte: u8, s: &[u8]) -> Option<usize> {
    if s.len() < 32 {
        s.iter().position(|&b| b == byte)
    } else {
        memchr::memchr(byte, s)
    }
}

/// Space-separated words with their offsets, empty ones skipped. Scans with SIMD `memchr`:
/// the parser walks every request line at least twice, so a byte loop here shows up as the
/// largest user-space cost per request.
#[derive(Clone)]
pub(crate) struct Words<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Words<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        Words { s, pos: 0 }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = (usize, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        let s = self.s;
        while self.pos < s.len() && s[self.pos] == b' ' {
            self.pos += 1;
        }
        if self.pos >= s.len() {
            return None;
        }
        let start = self.pos;
        let end = find(b' ', &s[start..]).map_or(s.len(), |i| start + i);
        self.pos = end;
        Some((start, &s[start..end]))
    }
}
