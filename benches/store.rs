//! Criterion micro-benchmarks of one shard's store: get hit, get miss, set of a new key and
//! overwrite, at 100k and 1M keys, with 32-byte and 1 KiB values, keys in random order; and
//! the machine's DRAM latency, for scale.
//!
//! Each operation's key is read from an array laid out in request order, so the harness reads
//! keys sequentially. In a server the key sits in the network buffer that was just read, which
//! is hot in cache; picking it from a random slot of a 16 MB key array (as an earlier version
//! of this file did) added one cache miss per operation that the store itself never pays.
//!
//! Requests follow a different permutation than the fill. With the same order (as earlier
//! versions had) the n-th request reads the n-th item written, and items are written to
//! consecutive chunks, so every run walked memory sequentially and the hardware prefetcher hid
//! the item miss that a real workload pays.

use std::hint::black_box;
use std::time::Duration;

use corecached::storage::{Store, StoreConfig, StoreMode, StoreResult, hash_key};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Keys are fixed 16-byte strings so the loop does no formatting.
fn keys(n: usize, tag: u8) -> Vec<[u8; 16]> {
    (0..n)
        .map(|i| {
            let mut k = *b"k_______________";
            k[1] = tag;
            let s = format!("{i:014}");
            k[2..].copy_from_slice(s.as_bytes());
            k
        })
        .collect()
}

const BATCH: usize = 16;

#[inline]
fn next(i: usize, n: usize) -> usize {
    if i + 1 == n { 0 } else { i + 1 }
}

/// A random permutation (xorshift, fixed seed) so runs are comparable.
fn shuffled(n: usize, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    let mut x = seed;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("store");
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_millis(1500));
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    for &n in &[100_000usize, 1_000_000] {
        for &vlen in &[32usize, 1024] {
            let value = vec![b'v'; vlen];
            let live = keys(n, b'a');
            let absent = keys(n, b'b');
            let order = shuffled(n, 0x9e37_79b9_7f4a_7c15);
            // Request-order copies in another order than the fill (see the module comment).
            let req = shuffled(n, 0x2545_f491_4f6c_dd1d);
            let req_live: Vec<[u8; 16]> = req.iter().map(|&o| live[o as usize]).collect();
            let req_absent: Vec<[u8; 16]> = req.iter().map(|&o| absent[o as usize]).collect();
            // Room for n items (plus slack for class rounding), so fresh keys evict old ones.
            let per_item = 16 + vlen + 40;
            let cfg = StoreConfig {
                mem_limit: (n * per_item * 5 / 4).max(8 << 20),
                ..Default::default()
            };
            let mut s = Store::new(cfg).unwrap();
            for &i in &order {
                s.store(StoreMode::Set, &live[i as usize], 0, 0, &value);
            }
            let name = |op: &str| format!("{op}/{}k/{vlen}B", n / 1000);

            let mut i = 0usize;
            g.bench_function(name("get_hit"), |b| {
                b.iter(|| {
                    let k = &req_live[i];
                    i = next(i, n);
                    black_box(s.get(k).map(|v| v.value.len()))
                })
            });
            // The same hits in batches, as a server would do them for a multi-get or a
            // pipelined read buffer: `get_batch` hashes and prefetches buckets and items ahead
            // of resolving, so the misses of a batch overlap.
            for batch in [BATCH, 128] {
                let mut i = 0usize;
                g.throughput(Throughput::Elements(batch as u64));
                g.bench_function(name(&format!("get_hit_batch{batch}")), |b| {
                    b.iter(|| {
                        let start = if i + batch > n { 0 } else { i };
                        let mut found = 0;
                        s.get_batch(&req_live[start..start + batch], |_, v| {
                            found += v.is_some() as usize
                        });
                        i = start + batch;
                        black_box(found)
                    })
                });
            }
            g.throughput(Throughput::Elements(1));
            let mut i = 0usize;
            g.bench_function(name("get_miss"), |b| {
                b.iter(|| {
                    let k = &req_absent[i];
                    i = next(i, n);
                    black_box(s.get(k).is_none())
                })
            });
            let mut i = 0usize;
            g.bench_function(name("overwrite"), |b| {
                b.iter(|| {
                    let k = &req_live[i];
                    i = next(i, n);
                    black_box(s.store(StoreMode::Set, k, 0, 0, &value))
                })
            });
            // Fresh keys: cycling through 2n keys in a store that holds about n, every key
            // written was evicted long ago, so each set inserts a new item.
            let fresh: Vec<&[u8; 16]> = absent.iter().chain(live.iter()).collect();
            let req_fresh: Vec<[u8; 16]> = (0..2)
                .flat_map(|round| req.iter().map(move |&o| o as usize * 2 + round))
                .map(|j| *fresh[j])
                .collect();
            let mut i = 0usize;
            g.bench_function(name("set_new"), |b| {
                b.iter(|| {
                    let k = &req_fresh[i];
                    i = next(i, 2 * n);
                    black_box(s.store(StoreMode::Set, k, 0, 0, &value))
                })
            });
            // Fresh keys in batches, continuing the same cycle: a server holding a batch of
            // sets can start loading all their buckets first.
            g.throughput(Throughput::Elements(BATCH as u64));
            g.bench_function(name("set_new_batch16"), |b| {
                b.iter(|| {
                    let start = if i + BATCH > 2 * n { 0 } else { i };
                    let ks = &req_fresh[start..start + BATCH];
                    for k in ks {
                        s.prefetch(hash_key(k));
                    }
                    let mut stored = 0;
                    for k in ks {
                        stored += (s.store(StoreMode::Set, k, 0, 0, &value) == StoreResult::Stored)
                            as usize;
                    }
                    i = start + BATCH;
                    black_box(stored)
                })
            });
            g.throughput(Throughput::Elements(1));
            let st = s.stats();
            eprintln!(
                "n={n} vlen={vlen}: items {} evictions {} pages {} hash_bytes {}",
                st.curr_items, st.evictions, st.total_pages, st.hash_bytes
            );
        }
    }
    g.finish();
}

/// The machine's DRAM latency: a chain of dependent loads over 256 MiB on huge pages, one
/// cache line apart in random order, so every step is a DRAM access the CPU cannot overlap
/// with the next. A get hit over 1 M keys waits for two of these in a row (index bucket, then
/// item); consecutive gets overlap only as far as the CPU's out-of-order window reaches, and
/// `get_hit_batch*` shows how far prefetching the next keys goes.
fn dram_latency(c: &mut Criterion) {
    const LEN: usize = 256 << 20;
    const LINE: usize = 64;
    let mut g = c.benchmark_group("machine");
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_millis(1500));
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    // SAFETY: a fresh private anonymous mapping, used only through `lines` below and unmapped
    // at the end of this function.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(mem, libc::MAP_FAILED);
    // SAFETY: the range is the mapping made above; advice only.
    let advised = unsafe { libc::madvise(mem, LEN, libc::MADV_HUGEPAGE) } == 0;
    // Without huge pages every step also walks the page tables; say which case was measured.
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .unwrap_or_else(|_| "unknown".into());
    eprintln!(
        "dram_dependent_load: MADV_HUGEPAGE {}, THP mode: {}",
        if advised { "accepted" } else { "refused" },
        thp.trim()
    );
    {
        let n = LEN / LINE;
        // SAFETY: LEN bytes of zeroed, writable memory, aligned for u64; the only reference to
        // it lives in this block, which ends before the unmap.
        let lines = unsafe { std::slice::from_raw_parts_mut(mem.cast::<u64>(), LEN / 8) };
        // One cycle through every line in random order: line perm[w] holds perm[w + 1].
        let perm = shuffled(n, 0x5851_f42d_4c95_7f2d);
        for w in 0..n {
            let (a, b) = (perm[w] as usize, perm[(w + 1) % n] as usize);
            lines[a * LINE / 8] = b as u64;
        }
        let mut at = perm[0] as usize;
        g.bench_function("dram_dependent_load/256MiB", |b| {
            b.iter(|| {
                at = lines[at * LINE / 8] as usize;
                black_box(at)
            })
        });
        // The shape of a get with nothing else in it: a random line, then the line it names
        // (bucket, then item), each lookup independent of the one before. How far apart this
        // and `get_hit` are is what the CPU could overlap if a get were this short.
        let req = shuffled(n, 0x1405_7b7e_f767_814f);
        let mut k = 0usize;
        g.bench_function("two_dependent_loads_per_lookup/256MiB", |b| {
            b.iter(|| {
                let first = lines[req[k] as usize * LINE / 8] as usize;
                k = next(k, n);
                black_box(lines[first * LINE / 8])
            })
        });
    }
    g.finish();
    // SAFETY: unmaps the mapping made above; `lines` went out of scope with its block.
    unsafe { libc::munmap(mem, LEN) };
}

criterion_group!(benches, bench, dram_latency);
criterion_main!(benches);
