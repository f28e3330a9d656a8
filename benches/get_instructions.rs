//! Instructions per get hit, for callgrind: fills a store with 1 M keys (32-byte values), then
//! gets every key three times in random order and measures the third pass (the first two set
//! each item's FETCHED and ACTIVE bits, which a hot key has long had). Timing under valgrind
//! means nothing, but the instruction count of the get loop is exact and repeatable, and it
//! bounds how many gets' cache misses the CPU can overlap (docs/benchmarks.md, section 4):
//!
//! ```sh
//! cargo bench --bench get_instructions --no-run
//! valgrind --tool=callgrind --toggle-collect='*get_all*' target/release/deps/get_instructions-*[^d]
//! ```
//!
//! Run as a bench without valgrind it prints ns per get, as a sanity check.

use std::hint::black_box;
use std::time::Instant;

use corecached::storage::{Store, StoreConfig, StoreMode};

/// Gets every key of `req`; the two callers below are copies of it under different names.
#[inline(always)]
fn value_bytes(s: &mut Store, req: &[[u8; 16]]) -> usize {
    let mut bytes = 0;
    for k in req {
        bytes += black_box(s.get(k)).map_or(0, |v| v.value.len());
    }
    bytes
}

/// The measured loop, kept out of line so callgrind can count just it.
#[inline(never)]
fn get_all(s: &mut Store, req: &[[u8; 16]]) -> usize {
    value_bytes(s, req)
}

/// The warm-up loop, under another name so callgrind leaves it out.
#[inline(never)]
fn warm_all(s: &mut Store, req: &[[u8; 16]]) -> usize {
    value_bytes(s, req)
}

fn main() {
    let n = 1_000_000usize;
    let keys: Vec<[u8; 16]> = (0..n)
        .map(|i| {
            let mut k = *b"k_______________";
            k[2..].copy_from_slice(format!("{i:014}").as_bytes());
            k
        })
        .collect();
    let mut s = Store::new(StoreConfig {
        mem_limit: 150 << 20,
        ..Default::default()
    })
    .unwrap();
    for k in &keys {
        s.store(StoreMode::Set, k, 0, 0, &[b'v'; 32]);
    }
    // xorshift permutation with a fixed seed, so every run asks for the same keys.
    let mut order: Vec<usize> = (0..n).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let req: Vec<[u8; 16]> = order.iter().map(|&i| keys[i]).collect();
    // A key's first two hits set its FETCHED and ACTIVE bits; hot keys are past that, so the
    // measured pass is the third.
    for _ in 0..2 {
        warm_all(&mut s, &req);
    }
    let t = Instant::now();
    let bytes = get_all(&mut s, &req);
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(bytes, 32 * n, "every key should hit");
    println!("{n} get hits, {ns:.1} ns each");
}
