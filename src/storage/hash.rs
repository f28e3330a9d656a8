//! Fixed-seed key hashing and the one shard rule built on it (`shard_of_hash`); the store
//! picks buckets from other bits (see `bucket_bits`) so shard choice and bucket choice stay
//! independent.

use ahash::RandomState;

// A constant, not a static: the seeds become immediates in the hashing code instead of four
// loads from memory per hash (a get's loads decide how many gets overlap; see store.rs).
// Fixed at compile time so every thread of a process agrees on a key's shard.
const STATE: RandomState = RandomState::with_seeds(
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
);

/// Hash of a key; [`shard_of_hash`] picks its shard from it.
#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    STATE.hash_one(key)
}

/// The shard among `shards` that owns a key of hash `hash`: the one rule every router,
/// prefetcher and replication receiver uses, so they all agree.
#[inline]
pub fn shard_of_hash(hash: u64, shards: usize) -> usize {
    if shards == 1 {
        0
    } else {
        (hash % shards as u64) as usize
    }
}

/// Bits used for bucket selection: the low bits already picked the shard, so with N shards
/// a shard would only ever see 1/N of the buckets if we reused them.
#[inline]
pub(crate) fn bucket_bits(hash: u64) -> u64 {
    hash.rotate_right(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_spread() {
        assert_eq!(hash_key(b"abc"), hash_key(b"abc"));
        assert_ne!(hash_key(b"abc"), hash_key(b"abd"));
        // Keys of one shard (even hash) must still reach both halves of the buckets.
        let mut seen = [false; 2];
        for i in 0..1000u32 {
            let h = hash_key(&i.to_le_bytes());
            if h.is_multiple_of(2) {
                seen[(bucket_bits(h) & 1) as usize] = true;
            }
        }
        assert_eq!(seen, [true, true]);
    }

    #[test]
    fn shards_by_the_low_bits() {
        assert_eq!(shard_of_hash(u64::MAX, 1), 0);
        assert_eq!(shard_of_hash(10, 4), 2);
        assert_eq!(shard_of_hash(u64::MAX, 3), (u64::MAX % 3) as usize);
    }
}
