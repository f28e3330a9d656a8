//! The short form of benches/twin_soak.sh: a twin pair with unequal shard counts takes
//! bursts of mixed writes on both nodes (pipelined, so the sender holds writes back to
//! coalesce them), then goes quiet; the last held writes must still reach the twin, and the
//! two nodes must end up holding the same keys, values, flags, expiries and versions.

mod common;
use common::{Client, Rng, Server, free_port};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const KEYS: usize = 2_000;

fn node(repl_port: u16, twin_port: u16, shards: &str) -> Server {
    let (x, twin) = (repl_port.to_string(), format!("127.0.0.1:{twin_port}"));
    Server::start(&["-X", &x, "--twin", &twin, "-t", shards])
}

fn repl(c: &mut Client, name: &str) -> u64 {
    c.stats("replication")[name].parse().unwrap()
}

/// Pipelined bursts of sets (some with an expiry), deletes, appends and incrs over KEYS
/// keys; every reply is read before the next burst. No touch: a touch keeps the item's
/// version on the node that ran it while its twin takes a new one (the client's CAS stays,
/// as in memcached), so versions would not compare.
fn mixed_load(port: u16, seed: u64, bursts: usize) {
    let mut c = Client::connect(port);
    let mut rng = Rng::seeded(seed);
    for _ in 0..bursts {
        let mut req = Vec::new();
        let n = 32;
        for _ in 0..n {
            let k = rng.below(KEYS);
            let line = match rng.below(10) {
                0..=4 => {
                    let v = format!("v{}-{}", seed, rng.next() % 1_000_000);
                    format!("set k{k} {} 0 {}\r\n{v}\r\n", rng.below(4), v.len())
                }
                5 | 6 => format!("delete k{k}\r\n"),
                7 => format!("append k{k} 0 0 1\r\n+\r\n"),
                8 => format!("set k{k} 0 {} 1\r\nt\r\n", 1000 + rng.below(1000)),
                _ => format!(
                    "set n{} 0 0 1\r\n{}\r\nincr n{} 7\r\n",
                    k % 50,
                    k % 10,
                    k % 50
                ),
            };
            req.extend_from_slice(line.as_bytes());
        }
        c.send(&req);
        // Every command above answers one line, the set+incr pair two.
        let lines = String::from_utf8_lossy(&req).matches("incr ").count() + n;
        let mut got = 0;
        while got < lines {
            got += String::from_utf8_lossy(&c.read_until(b"\r\n"))
                .matches("\r\n")
                .count();
        }
    }
}

/// Every item of a node: key -> (exptime, cas, size) from a metadump.
fn metadump(c: &mut Client) -> HashMap<String, (String, u64, String)> {
    c.send(b"lru_crawler metadump all\r\n");
    let dump = String::from_utf8(c.read_until(b"END\r\n")).unwrap();
    dump.lines()
        .filter(|l| l.starts_with("key="))
        .map(|l| {
            let f: HashMap<&str, &str> = l.split(' ').filter_map(|x| x.split_once('=')).collect();
            let meta = (
                f["exp"].to_string(),
                f["cas"].parse().unwrap(),
                f["size"].to_string(),
            );
            (f["key"].to_string(), meta)
        })
        .collect()
}

/// key -> (flags, cas, value) for every key either node may hold.
fn values(c: &mut Client) -> HashMap<String, (String, u64, Vec<u8>)> {
    let mut all = HashMap::new();
    let keys = (0..KEYS)
        .map(|k| format!("k{k}"))
        .chain((0..50).map(|k| format!("n{k}")));
    for key in keys {
        // Values here never hold "END\r\n", so the reply ends at the first one.
        let reply = c.call(format!("gets {key}\r\n").as_bytes(), "END\r\n");
        let Some((head, rest)) = reply.split_once("\r\n").filter(|_| reply != "END\r\n") else {
            continue;
        };
        let f: Vec<&str> = head.split_whitespace().collect();
        let len: usize = f[3].parse().unwrap();
        let value = rest.as_bytes()[..len].to_vec();
        all.insert(key, (f[2].to_string(), f[4].parse().unwrap(), value));
    }
    all
}

#[test]
fn mixed_bursts_on_both_nodes_then_quiet_converge_key_by_key() {
    let (ra, rb) = (free_port(), free_port());
    let a = node(ra, rb, "2");
    let b = node(rb, ra, "3");
    let (mut ca, mut cb) = (a.client(), b.client());
    let deadline = Instant::now() + Duration::from_secs(30);
    while repl(&mut ca, "links_streaming") < 2 || repl(&mut cb, "links_streaming") < 3 {
        assert!(Instant::now() < deadline, "links did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (pa, pb) = (a.port, b.port);
    let writers: Vec<_> = [(pa, 1), (pa, 2), (pa, 3), (pb, 4), (pb, 5)]
        .into_iter()
        .map(|(port, seed)| std::thread::spawn(move || mixed_load(port, seed, 150)))
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    // The last writes of each burst may sit in a sender's hold: nothing else will come to
    // push them out, so this only settles if the hold ends by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    while repl(&mut ca, "lag_records") > 0 || repl(&mut cb, "lag_records") > 0 {
        assert!(Instant::now() < deadline, "the twins did not settle");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(repl(&mut ca, "lag_us"), 0);
    assert!(repl(&mut ca, "records_sent") > 1_000);
    assert!(repl(&mut cb, "records_sent") > 500);

    // A CAS is the version plus the item's shard index (0..3 here), so it may differ by
    // that much between nodes of different shard counts.
    let close = |x: u64, y: u64| x.abs_diff(y) < 3;
    let (ma, mb) = (metadump(&mut ca), metadump(&mut cb));
    assert!(ma.len() > 100, "the load left keys behind ({})", ma.len());
    let mut a_keys: Vec<_> = ma.keys().collect();
    let mut b_keys: Vec<_> = mb.keys().collect();
    a_keys.sort();
    b_keys.sort();
    assert_eq!(a_keys, b_keys, "the nodes hold different keys");
    for (k, (exp, cas, size)) in &ma {
        let (exp_b, cas_b, size_b) = &mb[k];
        assert_eq!((exp, size), (exp_b, size_b), "{k}: expiry or size differs");
        assert!(
            close(*cas, *cas_b),
            "{k}: version differs ({cas} / {cas_b})"
        );
    }
    let (va, vb) = (values(&mut ca), values(&mut cb));
    assert_eq!(va.len(), vb.len());
    for (k, (flags, cas, value)) in &va {
        let (flags_b, cas_b, value_b) = &vb[k];
        assert_eq!(
            (flags, value),
            (flags_b, value_b),
            "{k}: flags or value differs"
        );
        assert!(
            close(*cas, *cas_b),
            "{k}: version differs ({cas} / {cas_b})"
        );
    }
}
