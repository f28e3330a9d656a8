//! Ketama consistent hashing as libmemcached does it, so a multi-server run puts each key on
//! the same server a libmemcached client would: 160 points per server, four per md5 digest of
//! "host:port-N", keys hashed by the first four bytes of their md5.

use md5::{Digest, Md5};

pub struct Ketama {
    // Sorted by point; ties keep the server added first, like libmemcached's stable sort.
    points: Vec<(u32, usize)>,
}

const POINTS_PER_SERVER: usize = 160;
const POINTS_PER_HASH: usize = 4;

#[inline]
fn word(d: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([d[i * 4], d[i * 4 + 1], d[i * 4 + 2], d[i * 4 + 3]])
}

impl Ketama {
    pub fn new(names: &[String]) -> Ketama {
        let mut points = Vec::with_capacity(names.len() * POINTS_PER_SERVER);
        for (idx, name) in names.iter().enumerate() {
            for n in 0..POINTS_PER_SERVER / POINTS_PER_HASH {
                let d = Md5::digest(format!("{name}-{n}").as_bytes());
                for h in 0..POINTS_PER_HASH {
                    points.push((word(&d, h), idx));
                }
            }
        }
        points.sort_by_key(|p| p.0);
        Ketama { points }
    }

    pub fn hash(key: &[u8]) -> u32 {
        word(&Md5::digest(key), 0)
    }

    /// Index of the server that owns `key`.
    pub fn server(&self, key: &[u8]) -> usize {
        let h = Self::hash(key);
        let i = self.points.partition_point(|p| p.0 < h);
        self.points[if i == self.points.len() { 0 } else { i }].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("127.0.0.1:{}", 11211 + i)).collect()
    }

    #[test]
    fn md5_word_order_matches_libmemcached() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e; libmemcached reads bytes 3,2,1,0.
        assert_eq!(Ketama::hash(b""), 0xd98c1dd4);
    }

    #[test]
    fn mapping_is_stable() {
        let a = Ketama::new(&names(3));
        let b = Ketama::new(&names(3));
        for k in 0..1000 {
            let key = format!("key:{k}");
            assert_eq!(a.server(key.as_bytes()), b.server(key.as_bytes()));
        }
        assert_eq!(a.points.len(), 3 * 160);
    }

    #[test]
    fn split_is_roughly_even_and_adding_a_server_moves_few_keys() {
        let three = Ketama::new(&names(3));
        let four = Ketama::new(&names(4));
        let n = 30_000;
        let mut counts = [0usize; 3];
        let mut moved = 0;
        for k in 0..n {
            let key = format!("key:{k}");
            let s3 = three.server(key.as_bytes());
            counts[s3] += 1;
            let s4 = four.server(key.as_bytes());
            if s4 != s3 {
                assert_eq!(s4, 3, "a key may only move to the new server");
                moved += 1;
            }
        }
        for c in counts {
            let share = c as f64 / n as f64;
            assert!((0.25..0.42).contains(&share), "share {share}");
        }
        let moved = moved as f64 / n as f64;
        assert!((0.15..0.35).contains(&moved), "moved {moved}");
    }
}
