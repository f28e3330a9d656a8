//! Criterion micro-benchmarks of the text-protocol parser on the requests that dominate real
//! traffic: a get and a set with memcaslap-sized keys (64 bytes), and a 100-key multi-get.

use std::hint::black_box;
use std::time::Duration;

use corecached::protocol::text::{Parsed, Request, parse};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn key(i: usize) -> String {
    format!("{i:064}")
}

/// Parses one request and walks its keys, as the connection loop does.
fn parse_and_walk(buf: &[u8]) -> usize {
    match parse(buf) {
        Parsed::Done {
            req: Request::Get { keys, .. },
            consumed,
        } => consumed + keys.iter().map(|k| k.len()).sum::<usize>(),
        Parsed::Done { consumed, .. } => consumed,
        _ => 0,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_millis(1500));
    g.throughput(Throughput::Elements(1));
    let get = format!("get {}\r\n", key(7));
    let set = format!("set {} 0 0 32\r\n{}\r\n", key(7), "v".repeat(32));
    let multi = format!(
        "get {}\r\n",
        (0..100).map(key).collect::<Vec<_>>().join(" ")
    );
    for (name, req) in [
        ("get_64B_key", &get),
        ("set_32B", &set),
        ("get_100_keys", &multi),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(parse_and_walk(black_box(req.as_bytes()))))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
