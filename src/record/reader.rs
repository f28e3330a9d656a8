//! A little-endian cursor over a byte slice: the one reader behind every decoder of records
//! and twin-link frames. Running out of bytes is an error, never a panic, since the bytes
//! come from the network.

/// What every read past the end answers.
pub const TRUNCATED: &str = "truncated frame";

/// Reads fixed-width little-endian integers and length-prefixed byte strings from the front
/// of a slice; what it returns borrows from that slice.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { rest: b }
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.rest.len() < n {
            return Err(TRUNCATED);
        }
        let (h, t) = self.rest.split_at(n);
        self.rest = t;
        Ok(h)
    }

    /// The next `N` bytes, as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, &'static str> {
        self.array().map(u16::from_le_bytes)
    }

    pub fn u32(&mut self) -> Result<u32, &'static str> {
        self.array().map(u32::from_le_bytes)
    }

    pub fn u64(&mut self) -> Result<u64, &'static str> {
        self.array().map(u64::from_le_bytes)
    }

    /// A byte string preceded by its length as a `u32`.
    pub fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_and_stops_at_the_end() {
        let mut b = vec![7u8];
        b.extend_from_slice(&0x0102u16.to_le_bytes());
        b.extend_from_slice(&0x0304_0506u32.to_le_bytes());
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(b"abcX");
        let mut r = Reader::new(&b);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u32(), Ok(0x0304_0506));
        assert_eq!(r.u64(), Ok(u64::MAX));
        assert_eq!(r.bytes(), Ok(&b"abc"[..]));
        assert_eq!(r.rest(), b"X");
        assert_eq!(r.u16(), Err(TRUNCATED));
        assert_eq!(r.array::<1>(), Ok([b'X']));
        assert!(r.is_empty());
        assert_eq!(r.u8(), Err(TRUNCATED));
    }

    #[test]
    fn a_length_past_the_end_is_an_error() {
        let mut b = u32::MAX.to_le_bytes().to_vec();
        b.push(1);
        assert_eq!(Reader::new(&b).bytes(), Err(TRUNCATED));
        assert_eq!(Reader::new(&b[..3]).bytes(), Err(TRUNCATED));
    }
}
