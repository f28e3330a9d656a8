//! Instructions per get hit, for callgrind: fills a store with 1 M keys (32-byte values), then
//! gets each once in random order. Timing under valgrind means nothing, but the instruction
//! count of the get loop (about 5 of it the loop itself) is exact and repeatable, and it decides how many gets' cache misses
//! the CPU can overlap (docs/benchmarks.md, section 4):
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

/// The measured loop, kept out of line so callgrind can count just it (`Store::get` inlines).
#[inline(never)]
fn get_all(s: &mut Store, req: &[[u8; 16]]) -> usize {
    let mut bytes = 0;
    for k in req {
        bytes += black_box(s.get(k)).map_or(0, |v| v.value.len());
    }
    bytes
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
    let t = Instant::now();
    let bytes = get_all(&mut s, &req);
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(bytes, 32 * n, "every key should hit");
    println!("{n} get hits, {ns:.1} ns each");
}
