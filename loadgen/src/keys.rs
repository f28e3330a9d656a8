//! Which key each request asks for (the key patterns), how a key number becomes key bytes,
//! and the value each key stores, so --verify can check any value read back without
//! remembering what was written.

use rand::Rng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Zipf};

#[derive(Debug, Clone, PartialEq)]
pub enum KeyPattern {
    Uniform,
    Sequential,
    Zipf(f64),
    Gaussian,
}

impl KeyPattern {
    pub fn parse(s: &str) -> Result<KeyPattern, String> {
        match s {
            "uniform" | "R" => Ok(KeyPattern::Uniform),
            "sequential" | "S" => Ok(KeyPattern::Sequential),
            "gaussian" | "G" => Ok(KeyPattern::Gaussian),
            _ => {
                if let Some(x) = s.strip_prefix("zipf:") {
                    let e = x
                        .parse::<f64>()
                        .map_err(|e| format!("--key-pattern {s:?}: {e}"))?;
                    if e.is_nan() || e <= 0.0 {
                        return Err(format!("--key-pattern {s:?}: exponent must be > 0"));
                    }
                    Ok(KeyPattern::Zipf(e))
                } else {
                    Err(format!(
                        "--key-pattern {s:?}: expected uniform, sequential, zipf:S or gaussian"
                    ))
                }
            }
        }
    }
}

/// Draws key numbers in `0..space`.
pub struct KeyGen {
    space: u64,
    kind: Kind,
}

enum Kind {
    Uniform,
    // Each thread walks its own offset so threads don't ask for the same key in lockstep.
    Sequential { next: u64 },
    Zipf(Zipf<f64>),
    Gaussian { mean: f64, sd: f64 },
}

impl KeyGen {
    pub fn new(pattern: &KeyPattern, space: u64, start: u64) -> KeyGen {
        let kind = match pattern {
            KeyPattern::Uniform => Kind::Uniform,
            KeyPattern::Sequential => Kind::Sequential {
                next: start % space,
            },
            KeyPattern::Zipf(s) => Kind::Zipf(Zipf::new(space, *s).expect("validated exponent")),
            // memtier's default: centred, with the key space covering +-3 standard deviations.
            KeyPattern::Gaussian => Kind::Gaussian {
                mean: (space as f64 - 1.0) / 2.0,
                sd: (space as f64 / 6.0).max(1e-9),
            },
        };
        KeyGen { space, kind }
    }

    #[inline]
    pub fn next(&mut self, rng: &mut SmallRng) -> u64 {
        match &mut self.kind {
            Kind::Uniform => rng.gen_range(0..self.space),
            Kind::Sequential { next } => {
                let k = *next;
                *next = if k + 1 >= self.space { 0 } else { k + 1 };
                k
            }
            // Zipf yields ranks 1..=n; rank 1 (the hottest) becomes key 0.
            Kind::Zipf(z) => (z.sample(rng) as u64).clamp(1, self.space) - 1,
            Kind::Gaussian { mean, sd } => {
                let x: f64 = rng.sample(rand_distr::StandardNormal);
                let v = (*mean + x * *sd).round();
                v.clamp(0.0, (self.space - 1) as f64) as u64
            }
        }
    }
}

/// Appends `prefix` + decimal key number to `out`, without allocating.
#[inline]
pub fn push_key(out: &mut Vec<u8>, prefix: &[u8], k: u64) {
    out.extend_from_slice(prefix);
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(k).as_bytes());
}

/// Reads the key number back out of key bytes; None when it isn't one of ours.
pub fn parse_key(key: &[u8], prefix: &[u8]) -> Option<u64> {
    let digits = key.strip_prefix(prefix)?;
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (d - b'0') as u64;
    }
    Some(n)
}

#[inline]
fn mix(k: u64) -> u64 {
    // splitmix64 finaliser: cheap, and neighbouring keys get unrelated sizes and offsets.
    let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The value every key stores: the key itself, then a filler slice picked by the key's hash,
/// cut to a length also picked by the key's hash. Both ends of a set and a get derive it,
/// so a value read back can be checked by any connection, whoever wrote it.
pub struct Values {
    min: usize,
    max: usize,
    filler: Vec<u8>,
}

const OFFSETS: usize = 251;

impl Values {
    pub fn new(min: usize, max: usize) -> Values {
        let filler = (0..max + OFFSETS)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 62])
            .collect();
        Values { min, max, filler }
    }

    #[inline]
    pub fn len(&self, k: u64) -> usize {
        if self.min == self.max {
            self.min
        } else {
            self.min + (mix(k) % (self.max - self.min + 1) as u64) as usize
        }
    }

    /// Appends the value of key `k` (whose bytes are `key`) to `out`.
    #[inline]
    pub fn push(&self, out: &mut Vec<u8>, key: &[u8], k: u64) {
        let len = self.len(k);
        let head = key.len().min(len);
        out.extend_from_slice(&key[..head]);
        let off = (mix(k ^ 0x5555) % OFFSETS as u64) as usize;
        out.extend_from_slice(&self.filler[off..off + (len - head)]);
    }

    /// True when `data` is exactly what key `k` stores.
    pub fn check(&self, data: &[u8], key: &[u8], k: u64) -> bool {
        let len = self.len(k);
        if data.len() != len {
            return false;
        }
        let head = key.len().min(len);
        let off = (mix(k ^ 0x5555) % OFFSETS as u64) as usize;
        data[..head] == key[..head] && data[head..] == self.filler[off..off + (len - head)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sequential_wraps_around() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut g = KeyGen::new(&KeyPattern::Sequential, 5, 3);
        let got: Vec<u64> = (0..7).map(|_| g.next(&mut rng)).collect();
        assert_eq!(got, vec![3, 4, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn zipf_is_skewed_towards_low_keys() {
        let mut rng = SmallRng::seed_from_u64(7);
        let n = 1000;
        let mut g = KeyGen::new(&KeyPattern::Zipf(0.99), n, 0);
        let mut counts = vec![0u64; n as usize];
        let draws = 200_000;
        for _ in 0..draws {
            let k = g.next(&mut rng);
            assert!(k < n);
            counts[k as usize] += 1;
        }
        // For s ~ 1, P(rank r) ~ 1/r: key 0 about twice key 1, ten times key 9.
        let r01 = counts[0] as f64 / counts[1] as f64;
        let r09 = counts[0] as f64 / counts[9] as f64;
        assert!((1.7..2.3).contains(&r01), "ratio 0/1 = {r01}");
        assert!((7.5..12.5).contains(&r09), "ratio 0/9 = {r09}");
        // Harmonic mass: the top 10 of 1000 keys hold ~ H(10)/H(1000) ~ 39% of draws.
        let top10: u64 = counts[..10].iter().sum();
        let share = top10 as f64 / draws as f64;
        assert!((0.33..0.45).contains(&share), "top-10 share {share}");
    }

    #[test]
    fn uniform_and_gaussian_stay_in_range() {
        let mut rng = SmallRng::seed_from_u64(3);
        for p in [KeyPattern::Uniform, KeyPattern::Gaussian] {
            let mut g = KeyGen::new(&p, 100, 0);
            let mut sum = 0u64;
            for _ in 0..10_000 {
                let k = g.next(&mut rng);
                assert!(k < 100);
                sum += k;
            }
            let mean = sum as f64 / 10_000.0;
            assert!((45.0..55.0).contains(&mean), "{p:?} mean {mean}");
        }
    }

    #[test]
    fn pattern_names_parse() {
        assert_eq!(
            KeyPattern::parse("zipf:0.99").unwrap(),
            KeyPattern::Zipf(0.99)
        );
        assert!(KeyPattern::parse("zipf:x").is_err());
        assert!(KeyPattern::parse("bogus").is_err());
    }

    #[test]
    fn keys_roundtrip_and_values_check() {
        let mut buf = Vec::new();
        push_key(&mut buf, b"key:", 12345);
        assert_eq!(buf, b"key:12345");
        assert_eq!(parse_key(&buf, b"key:"), Some(12345));
        assert_eq!(parse_key(b"other:1", b"key:"), None);
        let v = Values::new(4, 300);
        for k in [0u64, 1, 99, 12345] {
            let mut key = Vec::new();
            push_key(&mut key, b"key:", k);
            let mut val = Vec::new();
            v.push(&mut val, &key, k);
            assert_eq!(val.len(), v.len(k));
            assert!(v.check(&val, &key, k));
            let mut other = Vec::new();
            push_key(&mut other, b"key:", k + 1);
            assert!(!v.check(&val, &other, k + 1));
        }
    }
}
