//! Compact item header inside a slab chunk. Fields are little-endian and unaligned (chunk sizes
//! are not rounded to 8 bytes), read with `from_le_bytes` on slices.
//!
//! ```text
//! 0  prev  u32   LRU link (free-list link while the chunk is free)
//! 4  next  u32   LRU link (free-list link while the chunk is free)
//! 8  ver   u64   version == CAS
//! 16 exp   u32   absolute unix seconds, 0 = never
//! 20 word  u32   value length (27 bits) | USED | FETCHED | ACTIVE | HAS_FLAGS
//! 24 klen  u8
//! 25 key [flags u32, only when non-zero] value
//! ```
//!
//! The key comes first so that a lookup compares it without reading `word`.

pub(crate) const OFF_PREV: usize = 0;
pub(crate) const OFF_NEXT: usize = 4;
const OFF_VER: usize = 8;
const OFF_EXP: usize = 16;
const OFF_WORD: usize = 20;
const OFF_KLEN: usize = 24;
/// The fixed header's bytes, and so where the key starts.
pub(crate) const HDR: usize = 25;
/// Bytes an item takes beside its key and value when it has flags (4 bytes after the key).
pub(crate) const HDR_MAX: usize = HDR + 4;

pub(crate) const VLEN_MASK: u32 = (1 << 27) - 1;
/// Set while the chunk holds an item; page moves scan chunks by this bit.
pub(crate) const USED: u32 = 1 << 27;
/// Read at least once (for *_unfetched counters).
pub(crate) const FETCHED: u32 = 1 << 28;
/// Hit since it was last placed at the LRU head; rescued instead of evicted.
pub(crate) const ACTIVE: u32 = 1 << 29;
const HAS_FLAGS: u32 = 1 << 30;

#[inline]
pub(crate) fn rd32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

#[inline]
pub(crate) fn wr32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn header_len(flags: u32) -> usize {
    if flags != 0 { HDR_MAX } else { HDR }
}

/// Bytes the item occupies in its chunk.
#[inline]
pub(crate) fn total_len(klen: usize, vlen: usize, flags: u32) -> usize {
    header_len(flags) + klen + vlen
}

/// Writes a complete item (value = `a` followed by `b`) and marks the chunk used.
pub(crate) fn write(b: &mut [u8], key: &[u8], flags: u32, exp: u32, ver: u64, a: &[u8], c: &[u8]) {
    let vlen = a.len() + c.len();
    let mut word = USED | vlen as u32;
    if flags != 0 {
        word |= HAS_FLAGS;
    }
    b[OFF_VER..OFF_VER + 8].copy_from_slice(&ver.to_le_bytes());
    wr32(b, OFF_EXP, exp);
    wr32(b, OFF_WORD, word);
    b[OFF_KLEN] = key.len() as u8;
    let mut o = HDR;
    b[o..o + key.len()].copy_from_slice(key);
    o += key.len();
    if flags != 0 {
        wr32(b, o, flags);
        o += 4;
    }
    b[o..o + a.len()].copy_from_slice(a);
    o += a.len();
    b[o..o + c.len()].copy_from_slice(c);
}

/// The header fields a read needs, taken with one bounds check.
#[derive(Clone, Copy)]
pub(crate) struct Head {
    pub ver: u64,
    pub exp: u32,
    pub word: u32,
    pub klen: usize,
}

#[inline(always)]
pub(crate) fn head(b: &[u8]) -> Head {
    let a: &[u8; HDR] = b[..HDR].try_into().unwrap();
    Head {
        ver: u64::from_le_bytes(a[OFF_VER..OFF_VER + 8].try_into().unwrap()),
        exp: u32::from_le_bytes(a[OFF_EXP..OFF_EXP + 4].try_into().unwrap()),
        word: u32::from_le_bytes(a[OFF_WORD..OFF_WORD + 4].try_into().unwrap()),
        klen: a[OFF_KLEN] as usize,
    }
}

impl Head {
    /// Key and value of the item `b` whose head this is, with one bounds check.
    #[inline(always)]
    pub fn key_value<'b>(&self, b: &'b [u8]) -> (&'b [u8], &'b [u8]) {
        let vo = HDR + self.klen + flags_len(self.word);
        let kv = &b[HDR..vo + (self.word & VLEN_MASK) as usize];
        (&kv[..self.klen], &kv[vo - HDR..])
    }

    /// Client flags, read from `b` only when the item has them.
    #[inline(always)]
    pub fn flags(&self, b: &[u8]) -> u32 {
        if self.word & HAS_FLAGS != 0 {
            rd32(b, HDR + self.klen)
        } else {
            0
        }
    }
}

#[inline]
pub(crate) fn word(b: &[u8]) -> u32 {
    rd32(b, OFF_WORD)
}

#[inline]
pub(crate) fn set_word(b: &mut [u8], w: u32) {
    wr32(b, OFF_WORD, w)
}

/// memcached's bump on a hit, given the item's current `word(b)`: the first access sets
/// FETCHED, later ones ACTIVE. No relinking, so a hit writes only its own header (and only
/// when a bit changes).
#[inline]
pub(crate) fn mark_hit(b: &mut [u8], w: u32) {
    let nw = hit_word(w);
    if nw != w {
        set_word(b, nw);
    }
}

/// `word` after a hit (see `mark_hit`).
#[inline(always)]
pub(crate) fn hit_word(w: u32) -> u32 {
    if w & FETCHED == 0 {
        w | FETCHED
    } else {
        w | ACTIVE
    }
}

#[inline]
pub(crate) fn version(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[OFF_VER..OFF_VER + 8].try_into().unwrap())
}

#[inline]
pub(crate) fn set_version(b: &mut [u8], v: u64) {
    b[OFF_VER..OFF_VER + 8].copy_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn exptime(b: &[u8]) -> u32 {
    rd32(b, OFF_EXP)
}

#[inline]
pub(crate) fn set_exptime(b: &mut [u8], e: u32) {
    wr32(b, OFF_EXP, e)
}

#[inline]
pub(crate) fn flags(b: &[u8]) -> u32 {
    head(b).flags(b)
}

/// Bytes of flags stored between key and value.
#[inline(always)]
fn flags_len(w: u32) -> usize {
    if w & HAS_FLAGS != 0 { 4 } else { 0 }
}

#[inline]
pub(crate) fn klen(b: &[u8]) -> usize {
    b[OFF_KLEN] as usize
}

#[inline]
pub(crate) fn vlen(b: &[u8]) -> usize {
    (word(b) & VLEN_MASK) as usize
}

#[inline]
pub(crate) fn key(b: &[u8]) -> &[u8] {
    &b[HDR..HDR + klen(b)]
}

#[inline]
fn value_off(b: &[u8], w: u32) -> usize {
    HDR + klen(b) + flags_len(w)
}

#[inline]
pub(crate) fn value(b: &[u8]) -> &[u8] {
    let w = word(b);
    let o = value_off(b, w);
    &b[o..o + (w & VLEN_MASK) as usize]
}

#[inline]
pub(crate) fn value_mut(b: &mut [u8]) -> &mut [u8] {
    let w = word(b);
    let o = value_off(b, w);
    &mut b[o..o + (w & VLEN_MASK) as usize]
}

/// Key and value in one borrow.
#[inline]
pub(crate) fn key_value(b: &[u8]) -> (&[u8], &[u8]) {
    head(b).key_value(b)
}

#[inline]
pub(crate) fn total(b: &[u8]) -> usize {
    let w = word(b);
    value_off(b, w) + (w & VLEN_MASK) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_with_and_without_flags() {
        let mut buf = vec![0u8; 128];
        write(&mut buf, b"key", 0, 7, 99, b"val", b"ue");
        assert_eq!(key(&buf), b"key");
        assert_eq!(value(&buf), b"value");
        assert_eq!((flags(&buf), exptime(&buf), version(&buf)), (0, 7, 99));
        assert_eq!(total(&buf), HDR + 3 + 5);
        assert!(word(&buf) & USED != 0);
        write(&mut buf, b"k2", 0xdead_beef, 0, 1, b"", b"x");
        assert_eq!((key(&buf), value(&buf)), (&b"k2"[..], &b"x"[..]));
        assert_eq!(flags(&buf), 0xdead_beef);
        assert_eq!(total(&buf), HDR_MAX + 3);
        assert_eq!(total_len(2, 1, 5), HDR_MAX + 3);
        // The key sits at HDR with or without flags; flags follow it.
        assert_eq!(&buf[HDR..HDR + 2], b"k2");
        assert_eq!(rd32(&buf, HDR + 2), 0xdead_beef);
    }

    #[test]
    fn head_reads_what_the_accessors_read() {
        let mut buf = vec![0u8; 128];
        for fl in [0, 7] {
            write(&mut buf, b"some-key", fl, 1234, 42, b"va", b"lue");
            let hd = head(&buf);
            assert_eq!(
                (hd.ver, hd.exp, hd.word, hd.klen),
                (42, 1234, word(&buf), 8)
            );
            assert_eq!(hd.key_value(&buf), key_value(&buf));
            assert_eq!(hd.key_value(&buf), (&b"some-key"[..], &b"value"[..]));
            assert_eq!(hd.flags(&buf), fl);
            assert_eq!(flags(&buf), fl);
        }
        let w = word(&buf);
        assert_eq!(hit_word(w), w | FETCHED);
        assert_eq!(hit_word(w | FETCHED), w | FETCHED | ACTIVE);
    }
}
