//! How long one step of a long command holds a shard: fills one store with N small items
//! (default 5 M; `cargo bench --bench dump_step -- N`), then times every step of a whole
//! `lru_crawler metadump all`, of `stats cachedump` over the largest class, of a twin's full
//! copy, and one `flush_all`. A get that arrives during a dump waits at most about one step
//! (plus writing that step's lines), so the step times here bound what a dump adds to a
//! get's latency on the same shard, whatever else the host is running.

use corecached::server::exec::{DUMP_STEP, cachedump_step, metadump_step};
use corecached::storage::{Store, StoreConfig, StoreMode};
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(5_000_000);
    let cfg = StoreConfig {
        mem_limit: 1500 << 20,
        ..StoreConfig::default()
    };
    let mut store = Store::new(cfg).expect("a store");
    let t = Instant::now();
    for i in 0..n {
        let key = format!("key:{i}");
        store.store(StoreMode::Set, key.as_bytes(), 0, 0, b"0123456789");
    }
    println!("filled {n} items in {:.1} s", t.elapsed().as_secs_f64());

    let mut out = Vec::new();
    let (steps, bytes) = timed("metadump all", |cursor| {
        out.clear();
        let next = metadump_step(&store, u64::MAX, cursor, &mut out);
        (next, out.len())
    });
    println!("  {steps} steps of at most {DUMP_STEP} items, {bytes} bytes");

    let class = (1..=64u32)
        .max_by_key(|&c| {
            let mut o = Vec::new();
            cachedump_step(&mut store, c, 1, 0, &mut o);
            o.len()
        })
        .unwrap_or(1);
    timed(&format!("cachedump class {class}, no limit"), |cursor| {
        out.clear();
        let next = cachedump_step(&mut store, class, DUMP_STEP as u32, cursor, &mut out);
        (next, out.len())
    });

    timed("full copy (512 items or 64 KB a step)", |cursor| {
        out.clear();
        let (next, _) = store.scan(cursor, 512, 64 * 1024, &mut out);
        (next, out.len())
    });

    let t = Instant::now();
    store.flush_all(0);
    println!("flush_all over {n} items: {:?}", t.elapsed());
    let t = Instant::now();
    let hits = (0..1000)
        .filter(|i| store.get(format!("key:{i}").as_bytes()).is_some())
        .count();
    println!("  then 1000 gets: {hits} hits, {:?}", t.elapsed());
}

/// Runs `step` from cursor 0 until it returns None, and prints the step times: wall clock,
/// and this thread's CPU time, which a busy host's preemptions do not inflate.
fn timed(what: &str, mut step: impl FnMut(u64) -> (Option<u64>, usize)) -> (usize, usize) {
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let (mut cursor, mut bytes) = (Some(0), 0);
    let t = Instant::now();
    while let Some(c) = cursor {
        let (s, sc) = (Instant::now(), thread_cpu());
        let (next, b) = step(c);
        wall.push(s.elapsed());
        cpu.push(thread_cpu() - sc);
        bytes += b;
        cursor = next;
    }
    let total = t.elapsed();
    println!(
        "{what}: {:.2} s in {} steps\n  wall {}\n  cpu  {}",
        total.as_secs_f64(),
        wall.len(),
        spread(&mut wall),
        spread(&mut cpu)
    );
    (wall.len(), bytes)
}

fn spread(v: &mut [Duration]) -> String {
    v.sort();
    let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize];
    format!(
        "p50 {:?} p99 {:?} p99.9 {:?} max {:?}",
        q(0.5),
        q(0.99),
        q(0.999),
        v[v.len() - 1]
    )
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
