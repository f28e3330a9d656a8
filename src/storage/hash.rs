//! Fixed-seed key hashing. The server picks a shard with `hash % shards`; the store picks
//! buckets from other bits (see `bucket_bits`) so shard choice and bucket choice stay independent.

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

/// Hash of a key; the server uses it for shard selection (`hash % shards`).
#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    STATE.hash_one(key)
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
}
