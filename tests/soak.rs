//! Guards against an executor parking with work queued (a known glommio 0.9.0 flaw the
//! shards' periodic tick is there to bound): many clients hammer cross-shard keys, with
//! and without pipelining, and no request may wait a second or more.

mod common;
use common::{Client, Server};
use std::time::{Duration, Instant};

#[test]
fn no_request_waits_a_second_under_cross_shard_load() {
    let s = Server::start(&["-t", "4"]);
    let port = s.port;
    let deadline = Instant::now() + Duration::from_secs(4);
    let workers: Vec<_> = (0..12)
        .map(|w| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let (mut worst, mut done) = (Duration::ZERO, 0u32);
                let mut i = 0u32;
                while Instant::now() < deadline && done < 20_000 {
                    let start = Instant::now();
                    if w % 2 == 0 {
                        // one request at a time
                        c.set(&format!("k{}", (i * 7 + w) % 500), b"value");
                        c.get(&format!("k{}", (i * 13) % 500));
                        done += 2;
                    } else {
                        // a pipelined burst spanning every shard
                        let mut req = Vec::new();
                        for j in 0..16 {
                            req.extend_from_slice(
                                format!("get k{} k{}\r\n", (i + j) % 500, (i * 3 + j) % 500)
                                    .as_bytes(),
                            );
                        }
                        c.send(&req);
                        let mut ends = 0;
                        while ends < 16 {
                            ends += String::from_utf8_lossy(&c.read_until(b"END\r\n"))
                                .matches("END\r\n")
                                .count();
                        }
                        done += 16;
                    }
                    worst = worst.max(start.elapsed());
                    i += 1;
                }
                (worst, done)
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        let (worst, done) = w.join().unwrap();
        assert!(worst < Duration::from_secs(1), "a request waited {worst:?}");
        total += done;
    }
    assert!(total > 1000, "the load ran ({total} requests)");
}
