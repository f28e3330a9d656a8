//! Issue 12's connection-memory attacks against the real binary: each asserts the server's
//! resident memory (VmRSS) stays under a stated bound, that it survives, and that another
//! client is still served with correct data. The bounds are generous (the attacks cost
//! gigabytes without the bounds); docs/security.md has the measured numbers.

mod common;

use common::{Client, Server};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const BIG: usize = 500_000;

fn rss_mb(s: &Server) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).expect("status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb / 1024.0
}

/// The highest RSS seen over `secs`, running `step` between samples.
fn peak_over(s: &Server, secs: f64, mut step: impl FnMut()) -> f64 {
    let mut peak = rss_mb(s);
    for _ in 0..(secs * 20.0) as usize {
        step();
        std::thread::sleep(Duration::from_millis(50));
        peak = peak.max(rss_mb(s));
    }
    peak
}

/// Lets this test process hold a few thousand sockets.
fn raise_fd_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on this process with a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        l.rlim_cur = l.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &l);
    }
}

fn load_big(s: &Server) {
    let mut c = s.client();
    for i in 0..4 {
        assert_eq!(
            c.set(&format!("big{i}"), &vec![b'a' + i as u8; BIG]),
            "STORED\r\n"
        );
    }
}

/// A fresh client writes and reads back a value.
fn still_served(s: &Server, tag: &str) {
    let mut c = s.client();
    assert_eq!(c.set(tag, tag.as_bytes()), "STORED\r\n");
    assert_eq!(c.get(tag).as_deref(), Some(tag.as_bytes()));
    assert_eq!(c.get("big2").map(|v| v.len()), Some(BIG));
}

fn connect(s: &Server) -> TcpStream {
    TcpStream::connect(("127.0.0.1", s.port)).expect("connect")
}

/// Reads a multi-get answer of `names` values of BIG bytes as it streams, checking each
/// block's key, length and first byte in order, without holding it.
fn read_values(stream: &mut TcpStream, names: &[String]) {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut r = std::io::BufReader::with_capacity(1 << 20, stream);
    let mut body = vec![0u8; BIG + 2];
    for name in names {
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            let mut b = [0u8; 1];
            r.read_exact(&mut b).expect("header");
            line.push(b[0]);
        }
        assert_eq!(line, format!("VALUE {name} 0 {BIG}\r\n").as_bytes());
        r.read_exact(&mut body).expect("value");
        let fill = b'a' + name.as_bytes()[3] - b'0';
        assert!(body[..BIG].iter().all(|&b| b == fill) && body.ends_with(b"\r\n"));
    }
    let mut end = [0u8; 5];
    r.read_exact(&mut end).expect("END");
    assert_eq!(&end, b"END\r\n");
}

#[test]
fn a_multiget_naming_a_big_value_thousands_of_times_is_answered_in_bounded_steps() {
    // Unbounded, 2,000 names of a 500 KB value built 1 GB of answer before writing any.
    let s = Server::start(&["-t", "4", "-m", "64"]);
    load_big(&s);
    let start = rss_mb(&s);
    let names: Vec<String> = (0..2000).map(|i| format!("big{}", i % 4)).collect();
    let mut attacker = connect(&s);
    attacker
        .write_all(format!("get {}\r\n", names.join(" ")).as_bytes())
        .unwrap();
    let peak = peak_over(&s, 1.5, || {});
    assert!(peak < start + 100.0, "RSS {start:.0} -> {peak:.0} MB");
    still_served(&s, "during-multiget");
    // The whole answer, in order, once the client reads.
    read_values(&mut attacker, &names);
    attacker.write_all(b"get big1 nothing big3\r\n").unwrap();
    read_values(&mut attacker, &["big1".into(), "big3".into()]);
}

#[test]
fn pipelined_gets_from_connections_that_never_read_cost_their_limit() {
    // Unbounded: 0.9 GB for one such connection, 2.7 GB for four, within seconds.
    raise_fd_limit();
    let s = Server::start(&["-t", "4", "-m", "64"]);
    load_big(&s);
    let start = rss_mb(&s);
    for n in [1usize, 4, 200] {
        let mut conns: Vec<TcpStream> = (0..n).map(|_| connect(&s)).collect();
        let reqs: Vec<Vec<u8>> = (0..4)
            .map(|i| format!("get big{i}\r\n").repeat(1000).into_bytes())
            .collect();
        for c in &conns {
            c.set_nonblocking(true).unwrap();
        }
        let peak = peak_over(&s, 2.0, || {
            for (i, c) in conns.iter_mut().enumerate() {
                match c.write(&reqs[i % 4]) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("attacker write: {e}"),
                }
            }
        });
        // Each holds at most its 256 KiB output bound plus one value.
        let bound = start + 50.0 + n as f64 * 0.75;
        assert!(
            peak < bound,
            "{n} conns: RSS {start:.0} -> {peak:.0} MB (bound {bound:.0})"
        );
        still_served(&s, &format!("beside-{n}"));
    }
}

#[test]
fn binary_gets_from_a_connection_that_never_reads_cost_its_limit() {
    // The same attack in the binary protocol: getk packets naming a big value, never read.
    let s = Server::start(&["-t", "4", "-m", "64"]);
    load_big(&s);
    let start = rss_mb(&s);
    let mut c = connect(&s);
    c.set_nonblocking(true).unwrap();
    let mut req = Vec::new();
    for i in 0..2000 {
        let key = format!("big{}", i % 4);
        let mut h = [0u8; 24];
        h[0] = 0x80;
        h[1] = 0x0c; // getk
        h[2..4].copy_from_slice(&(key.len() as u16).to_be_bytes());
        h[8..12].copy_from_slice(&(key.len() as u32).to_be_bytes());
        req.extend_from_slice(&h);
        req.extend_from_slice(key.as_bytes());
    }
    let peak = peak_over(&s, 2.0, || match c.write(&req) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(e) => panic!("attacker write: {e}"),
    });
    let bound = start + 50.0;
    assert!(
        peak < bound,
        "RSS {start:.0} -> {peak:.0} MB (bound {bound:.0})"
    );
    still_served(&s, "beside-binary");
}

#[test]
fn a_set_header_costs_what_was_sent_not_what_it_announced() {
    raise_fd_limit();
    // Unbounded: 1,000 headers for 1 MB values reserved 1.0 GB from 22 KB sent.
    let s = Server::start(&["-t", "4", "-m", "64", "-c", "2000"]);
    load_big(&s);
    let start = rss_mb(&s);
    let conns: Vec<TcpStream> = (0..1000)
        .map(|i| {
            let mut c = connect(&s);
            c.write_all(format!("set k{i} 0 0 1000000\r\n").as_bytes())
                .unwrap();
            c
        })
        .collect();
    let peak = peak_over(&s, 1.0, || {});
    assert!(peak < start + 40.0, "RSS {start:.0} -> {peak:.0} MB");
    let mut c = s.client();
    assert_eq!(c.set("whole", &vec![b'w'; 1_000_000]), "STORED\r\n");
    assert_eq!(c.get("whole").map(|v| v.len()), Some(1_000_000));
    drop(conns);

    // -I 128m: 30 headers for 128 MB values reserved 3.3 GB from 680 bytes.
    let s = Server::start(&["-t", "4", "-m", "512", "-I", "128m"]);
    load_big(&s);
    let start = rss_mb(&s);
    let mut conns: Vec<TcpStream> = (0..30)
        .map(|i| {
            let mut c = connect(&s);
            c.write_all(format!("set h{i} 0 0 134000000\r\n").as_bytes())
                .unwrap();
            c
        })
        .collect();
    // One of them sends a part of its value: it costs about that part.
    conns[0].write_all(&vec![b'p'; 4 << 20]).unwrap();
    let peak = peak_over(&s, 1.0, || {});
    assert!(peak < start + 40.0, "RSS {start:.0} -> {peak:.0} MB");
    // The rest of the value arrives and the item is whole.
    let mut rest = vec![b'p'; 134_000_000 - (4 << 20)];
    rest.extend_from_slice(b"\r\nget h0\r\n");
    conns[0].write_all(&rest).unwrap();
    let mut c = Client::from_stream(conns.swap_remove(0));
    let got = c.read_until(b"END\r\n");
    assert!(
        got.starts_with(b"STORED\r\nVALUE h0 0 134000000\r\npppp"),
        "{:?}",
        &got[..40.min(got.len())]
    );
    let header = "VALUE h0 0 134000000\r\n".len();
    assert_eq!(got.len(), 8 + header + 134_000_000 + 2 + 5);
    still_served(&s, "beside-headers");
}

#[test]
fn idle_connections_are_cheap_and_their_memory_comes_back() {
    raise_fd_limit();
    // Unbounded: about 18 KB per idle connection (16 KB read + 16 KB out buffers).
    let s = Server::start(&["-t", "4", "-m", "64", "-c", "3000"]);
    load_big(&s);
    let mut warm = s.client();
    assert!(warm.line("version").starts_with("VERSION"));
    std::thread::sleep(Duration::from_millis(300));
    let start = rss_mb(&s);
    let n = 2000;
    let mut conns: Vec<TcpStream> = (0..n).map(|_| connect(&s)).collect();
    for c in &mut conns {
        c.write_all(b"version\r\n").unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut b = [0u8; 64];
        assert!(c.read(&mut b).unwrap() > 0);
    }
    assert!(Instant::now() < deadline, "2,000 versions took over 20 s");
    std::thread::sleep(Duration::from_millis(300));
    let held = rss_mb(&s);
    let per_kb = (held - start) * 1024.0 / n as f64;
    assert!(
        per_kb < 3.0,
        "{per_kb:.2} KB per idle connection ({start:.1} -> {held:.1} MB)"
    );
    still_served(&s, "beside-idle");
    drop(conns);
    // The server trims its heap 200 ms after a burst of closes.
    std::thread::sleep(Duration::from_millis(1000));
    let after = rss_mb(&s);
    assert!(
        after < start + 4.0,
        "after close: {start:.1} -> {after:.1} MB"
    );
}

#[test]
fn answers_keep_request_order_and_batching_under_the_bound() {
    let s = Server::start(&["-t", "4", "-m", "64"]);
    load_big(&s);
    let mut c = s.client();
    // Small values: a 100-key multi-get is still one batch per other shard.
    for i in 0..100 {
        assert_eq!(
            c.set(&format!("s{i}"), format!("v{i}").as_bytes()),
            "STORED\r\n"
        );
    }
    let before = c.shards_stat("cross_shard_batches");
    let keys: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
    let got = c.call(format!("get {}\r\n", keys.join(" ")).as_bytes(), "END\r\n");
    let want: String = (0..100)
        .map(|i| format!("VALUE s{i} 0 {}\r\nv{i}\r\n", format!("v{i}").len()))
        .collect();
    assert_eq!(got, want + "END\r\n");
    // One batch to each of the three other shards.
    assert_eq!(c.shards_stat("cross_shard_batches") - before, 3);

    // Big values interleaved with writes and small reads across shards, pipelined far past
    // the output bound: every answer comes back, in request order.
    let mut req = Vec::new();
    let mut expect: Vec<String> = Vec::new();
    for i in 0..300 {
        req.extend_from_slice(format!("get big{}\r\n", i % 4).as_bytes());
        expect.push(format!("big{}", i % 4));
        req.extend_from_slice(
            format!("set p{i} 0 0 1\r\n{}\r\nget p{i} s{i}\r\n", i % 10).as_bytes(),
        );
        expect.push(format!("p{i}={}", i % 10));
    }
    c.send(&req);
    for e in &expect {
        if let Some((key, v)) = e.split_once('=') {
            let small = format!("s{}", &key[1..]);
            // s0..s99 hold "v<i>", as long as their key.
            let sv = if key[1..].parse::<usize>().unwrap() < 100 {
                format!("VALUE {small} 0 {}\r\nv{}\r\n", small.len(), &key[1..])
            } else {
                String::new()
            };
            let want = format!("STORED\r\nVALUE {key} 0 1\r\n{v}\r\n{sv}END\r\n");
            let got = c.read_exact(want.len());
            assert_eq!(String::from_utf8_lossy(&got), want);
        } else {
            let header = format!("VALUE {e} 0 {BIG}\r\n");
            let got = c.read_exact(header.len() + BIG + 2 + 5);
            assert_eq!(&got[..header.len()], header.as_bytes());
            assert!(got.ends_with(b"\r\nEND\r\n"));
        }
    }
}
