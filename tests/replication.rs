//! Twin replication between two real nodes on 127.0.0.1: both directions, concurrent
//! writes converging, a killed twin catching up, a short cut resumed by partial resync
//! through a relay the test can sever, a wrong secret refused, unequal shard counts.

mod common;
use common::{Client, Server, eventually, free_port};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn repl_stats(c: &mut Client) -> std::collections::HashMap<String, String> {
    c.stats("replication")
}

fn num(m: &std::collections::HashMap<String, String>, k: &str) -> u64 {
    m.get(k)
        .unwrap_or_else(|| panic!("no stat {k} in {m:?}"))
        .parse()
        .unwrap()
}

/// Starts a node whose twin is at `twin_port`, accepting replication on `repl_port`.
fn node(port: u16, repl_port: u16, twin_port: u16, extra: &[&str]) -> Server {
    let (x, twin) = (repl_port.to_string(), format!("127.0.0.1:{twin_port}"));
    let mut args = vec!["-X", &x, "--twin", &twin];
    args.extend_from_slice(extra);
    Server::start_on(port, &args)
}

/// A node on any free client port (retrying if a parallel test took the port first).
fn any_node(repl_port: u16, twin_port: u16, extra: &[&str]) -> Server {
    let (x, twin) = (repl_port.to_string(), format!("127.0.0.1:{twin_port}"));
    let mut args = vec!["-X", &x, "--twin", &twin];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn secret_file(name: &str, secret: &str) -> String {
    let path = std::env::temp_dir().join(format!("corecached-test-{}-{name}", std::process::id()));
    std::fs::write(&path, secret).unwrap();
    path.to_string_lossy().into_owned()
}

fn settled(a: &mut Client, b: &mut Client) -> bool {
    let (ra, rb) = (repl_stats(a), repl_stats(b));
    num(&ra, "lag_records") == 0
        && num(&rb, "lag_records") == 0
        && num(&ra, "links_streaming") > 0
        && num(&rb, "links_streaming") > 0
}

#[test]
fn writes_flow_both_ways_with_unequal_shard_counts_and_a_secret() {
    let secret = secret_file("both", "s3cret");
    let (ra, rb) = (free_port(), free_port());
    let a = node(
        free_port(),
        ra,
        rb,
        &["-t", "1", "--repl-secret-file", &secret],
    );
    let b = node(
        free_port(),
        rb,
        ra,
        &["-t", "3", "--repl-secret-file", &secret],
    );
    let (mut ca, mut cb) = (a.client(), b.client());
    for i in 0..300 {
        ca.set(&format!("a{i}"), format!("from-a-{i}").as_bytes());
        cb.set(&format!("b{i}"), format!("from-b-{i}").as_bytes());
    }
    assert!(
        eventually(20, || cb.get("a299").is_some() && ca.get("b299").is_some()),
        "replication did not arrive"
    );
    for i in 0..300 {
        assert_eq!(
            cb.get(&format!("a{i}")).unwrap(),
            format!("from-a-{i}").as_bytes()
        );
        assert_eq!(
            ca.get(&format!("b{i}")).unwrap(),
            format!("from-b-{i}").as_bytes()
        );
    }
    // every kind of change travels: delete, incr, append, touch, flush
    ca.line("delete a0");
    cb.set("n", b"41");
    assert!(eventually(10, || ca.get("n").is_some()));
    assert_eq!(ca.line("incr n 1"), "42\r\n");
    ca.call(b"append a1 0 0 2\r\n!!\r\n", "\r\n");
    assert!(eventually(10, || cb.get("a0").is_none()
        && cb.get("n").as_deref() == Some(b"42")
        && cb.get("a1").as_deref() == Some(b"from-a-1!!")));
    assert_eq!(cb.line("flush_all"), "OK\r\n");
    assert!(eventually(10, || ca.get("a5").is_none() && ca.get("b5").is_none()));
    let r = repl_stats(&mut ca);
    assert_eq!(r["role"], "twin");
    assert_eq!(r["secret_required"], "yes");
    assert!(num(&r, "records_sent") >= 300);
    assert!(num(&r, "records_applied") >= 300);
}

#[test]
fn concurrent_writes_to_the_same_keys_converge() {
    let (ra, rb) = (free_port(), free_port());
    let a = any_node(ra, rb, &["-t", "2"]);
    let b = any_node(rb, ra, &["-t", "3"]);
    let (pa, pb) = (a.port, b.port);
    let writer = |port: u16, tag: &'static str| {
        std::thread::spawn(move || {
            let mut c = Client::connect(port);
            for round in 0..5 {
                let mut req = Vec::new();
                for i in 0..400 {
                    let v = format!("{tag}-{round}-{i}");
                    req.extend_from_slice(
                        format!("set k{i} 0 0 {}\r\n{v}\r\n", v.len()).as_bytes(),
                    );
                }
                c.send(&req);
                c.read_exact(400 * 8);
                if round == 2 {
                    c.send(b"delete k7\r\n");
                    c.read_until(b"\r\n");
                }
            }
        })
    };
    let (wa, wb) = (writer(pa, "A"), writer(pb, "B"));
    wa.join().unwrap();
    wb.join().unwrap();
    let (mut ca, mut cb) = (a.client(), b.client());
    assert!(
        eventually(20, || settled(&mut ca, &mut cb)),
        "links did not settle"
    );
    let mut differing = Vec::new();
    for i in 0..400 {
        let k = format!("k{i}");
        let (va, vb) = (ca.get(&k), cb.get(&k));
        if va != vb {
            differing.push((k, va, vb));
        }
    }
    assert!(
        differing.is_empty(),
        "twins disagree on {} keys, e.g. {:?}",
        differing.len(),
        differing.first()
    );
}

#[test]
fn a_killed_twin_catches_up_after_restart() {
    let (ra, rb) = (free_port(), free_port());
    let (pa, pb) = (free_port(), free_port());
    let a = node(pa, ra, rb, &["-t", "2"]);
    let mut b = node(pb, rb, ra, &["-t", "2"]);
    let mut ca = a.client();
    ca.set("before", b"1");
    assert!(eventually(10, || b.client().get("before").is_some()));
    // Both of A's shards must have made their first copy before B dies: a shard still in
    // its connect backoff would copy only once, to the restarted B.
    assert!(
        eventually(10, || num(&repl_stats(&mut ca), "full_resyncs") == 2),
        "A's shards did not both reach B"
    );
    b.kill9();
    let value = vec![b'z'; 200];
    let mut req = Vec::new();
    for i in 0..5000 {
        req.extend_from_slice(format!("set key{i} 0 0 {}\r\n", value.len()).as_bytes());
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
    }
    ca.send(&req);
    ca.read_exact(5000 * 8);
    let b = node(pb, rb, ra, &["-t", "2"]);
    let mut cb = b.client();
    assert!(
        eventually(20, || cb.stat("curr_items") == 5001),
        "B has {} items",
        cb.stat("curr_items")
    );
    for i in (0..5000).step_by(97) {
        assert_eq!(cb.get(&format!("key{i}")).unwrap(), value);
    }
    assert!(
        num(&repl_stats(&mut ca), "full_resyncs") >= 4,
        "initial copies and the copy to the new B"
    );
}

/// A TCP relay the test can cut: while closed it drops every connection.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (o, l) = (open.clone(), live.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(inbound) = conn else { continue };
                if !o.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                l.lock()
                    .unwrap()
                    .extend([inbound.try_clone().unwrap(), outbound.try_clone().unwrap()]);
                pipe(inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
                pipe(outbound, inbound);
            }
        });
        Relay { port, open, live }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[test]
fn a_short_cut_ends_in_a_partial_resync() {
    let (ra, rb) = (free_port(), free_port());
    let relay = Relay::start(rb);
    let a = any_node(ra, relay.port, &["-t", "2"]);
    let b = any_node(rb, ra, &["-t", "2"]);
    let (mut ca, mut cb) = (a.client(), b.client());
    ca.set("first", b"1");
    assert!(eventually(10, || cb.get("first").is_some()));
    assert!(eventually(10, || num(
        &repl_stats(&mut ca),
        "links_streaming"
    ) == 2));
    let full_before = num(&repl_stats(&mut ca), "full_resyncs");
    relay.cut();
    assert!(
        eventually(10, || num(&repl_stats(&mut ca), "links_streaming") == 0),
        "A did not notice the cut"
    );
    for i in 0..1000 {
        ca.set(&format!("during{i}"), b"x");
    }
    assert_eq!(cb.get("during999"), None, "the link is cut");
    relay.restore();
    // Each of A's shards reconnects on its own backoff, so one key arriving says nothing of
    // the other shard's keys: wait until both links stream again and B acknowledged all.
    assert!(
        eventually(20, || {
            let r = repl_stats(&mut ca);
            num(&r, "links_streaming") == 2 && num(&r, "lag_records") == 0
        }),
        "B did not catch up"
    );
    for i in 0..1000 {
        assert_eq!(cb.get(&format!("during{i}")).unwrap(), b"x");
    }
    let r = repl_stats(&mut ca);
    assert!(num(&r, "partial_resyncs") >= 1, "{r:?}");
    assert_eq!(
        num(&r, "full_resyncs"),
        full_before,
        "no shard needed a full copy"
    );
}

#[test]
fn a_twin_with_the_wrong_secret_is_refused() {
    let (ra, rb) = (free_port(), free_port());
    let (s1, s2) = (secret_file("one", "alpha"), secret_file("two", "beta"));
    let a = any_node(ra, rb, &["-t", "1", "--repl-secret-file", &s1]);
    let b = any_node(rb, ra, &["-t", "1", "--repl-secret-file", &s2]);
    let (mut ca, mut cb) = (a.client(), b.client());
    ca.set("k", b"v");
    cb.set("j", b"w");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(cb.get("k"), None);
    assert_eq!(ca.get("j"), None);
    assert_eq!(num(&repl_stats(&mut ca), "links_streaming"), 0);
    assert_eq!(num(&repl_stats(&mut cb), "records_applied"), 0);
}

#[test]
fn a_touch_shortening_the_expiry_reaches_the_twin() {
    let (ra, rb) = (free_port(), free_port());
    let a = any_node(ra, rb, &["-t", "2"]);
    let b = any_node(rb, ra, &["-t", "1"]);
    let (mut ca, mut cb) = (a.client(), b.client());
    ca.call(b"set t 0 1000 1\r\nv\r\n", "\r\n");
    assert!(eventually(10, || cb.get("t").is_some()));
    assert_eq!(ca.line("touch t 1"), "TOUCHED\r\n");
    assert!(
        eventually(10, || cb.get("t").is_none()),
        "the twin kept the old expiry"
    );
}
