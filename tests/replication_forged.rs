//! A forged twin (no secret configured) speaking the replication wire format at a real node:
//! an oversized frame before the handshake, a flush or a write versioned far in the future,
//! a delete with an oversized key, floods of idle connections, a second link of a live
//! stream. Each is refused and counted, and the node's data and its clients are unharmed.

mod common;
use common::{Client, Server, free_port};
use corecached::record::Mutation;
use corecached::replication::admit::MAX_PENDING;
use corecached::replication::wire::{self, DecodeError, Frame};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A node whose twin never answers (nothing listens at its address), and its replication
/// port, where the test plays the twin.
fn node() -> (Server, u16) {
    let (rport, nobody) = (free_port(), free_port());
    let (x, twin) = (rport.to_string(), format!("127.0.0.1:{nobody}"));
    (Server::start(&["-X", &x, "--twin", &twin]), rport)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The node's version for a write at unix ms `ms` from a twin whose node id is 9.
fn version_at(ms: u64) -> u64 {
    (ms << 20) | 9
}

/// The test's end of a replication stream.
struct Forger {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Forger {
    fn connect(rport: u16) -> Forger {
        let stream = TcpStream::connect(("127.0.0.1", rport)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Forger {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects and passes the handshake (the node has no secret, so any proof does).
    fn handshake(rport: u16) -> Forger {
        let mut f = Forger::connect(rport);
        assert!(matches!(f.next(), Some(Frame::Challenge { .. })));
        f.send(&Frame::Hello {
            repl_id: 0x5eed_f00d,
            node_id: 9,
            shard: 0,
            shards: 1,
            mac: [0; 32],
        });
        assert_eq!(f.next(), Some(Frame::Welcome { next_seq: 0 }));
        f
    }

    fn send(&mut self, frame: &Frame) {
        let mut out = Vec::new();
        wire::encode(&mut out, frame);
        self.stream.write_all(&out).unwrap();
    }

    fn write(&mut self, seq: u64, m: Mutation) {
        self.send(&Frame::Data { seq, m });
    }

    /// The next frame from the node; None once it closed the link.
    fn next(&mut self) -> Option<Frame> {
        loop {
            match wire::decode(&self.buf) {
                Ok((f, used)) => {
                    self.buf.drain(..used);
                    return Some(f);
                }
                Err(DecodeError::Incomplete) => {}
                Err(DecodeError::Invalid(why)) => panic!("node sent garbage: {why}"),
            }
            let mut b = [0u8; 4096];
            match self.stream.read(&mut b) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("waiting for the node: {e}"),
            }
        }
    }

    /// Waits until the node acknowledged `seq` (it applied, or refused, everything before).
    fn acked(&mut self, seq: u64) {
        loop {
            match self.next() {
                Some(Frame::Ack { seq: s }) if s >= seq => return,
                Some(Frame::Ack { .. }) => {}
                other => panic!("expected an ack of {seq}, got {other:?}"),
            }
        }
    }
}

fn set(key: &[u8], value: &[u8], version: u64) -> Mutation {
    Mutation::Set {
        key: key.to_vec(),
        value: value.to_vec(),
        flags: 0,
        exptime: 0,
        version,
    }
}

fn repl_stat(c: &mut Client, name: &str) -> u64 {
    let s = c.stats("replication");
    s.get(name)
        .unwrap_or_else(|| panic!("no {name} in {s:?}"))
        .parse()
        .unwrap()
}

fn vm_rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 50 connections each announce a 128 MiB hello before any proof and send 2 MiB of it:
/// each is closed at once, and the node grows by less than 32 MB (it used to buffer them:
/// 100 MB here, 4 GB for 50 whole ones).
#[test]
fn an_oversized_frame_before_the_handshake_is_refused_without_buffering_it() {
    let (server, rport) = node();
    let before = vm_rss_kb(server.pid());
    let mut frame = (128u32 << 20).to_le_bytes().to_vec();
    frame.push(wire::kind::HELLO);
    frame.resize(2 << 20, 0xab);
    let mut forgers: Vec<Forger> = (0..50).map(|_| Forger::connect(rport)).collect();
    for f in &mut forgers {
        assert!(matches!(f.next(), Some(Frame::Challenge { .. })));
        // The node may close the link before it has read all of it.
        let _ = f.stream.write_all(&frame);
    }
    for f in &mut forgers {
        assert_eq!(f.next(), None, "the link stays open");
    }
    let grown_kb = vm_rss_kb(server.pid()).saturating_sub(before);
    assert!(grown_kb < 32 * 1024, "resident memory grew {grown_kb} KB");
    let mut c = server.client();
    assert_eq!(c.set("k", b"v"), "STORED\r\n");
    assert_eq!(c.get("k").unwrap(), b"v");
}

/// A flush whose threshold is near 2^64 used to hide every write from then on (the node
/// answered STORED and then missed). Now it is refused and counted, and the stream goes on.
#[test]
fn a_flush_from_the_far_future_is_refused_and_the_node_keeps_working() {
    let (server, rport) = node();
    let mut c = server.client();
    assert_eq!(c.set("before", b"1"), "STORED\r\n");
    let mut f = Forger::handshake(rport);
    f.write(
        1,
        Mutation::Flush {
            before_version: u64::MAX - 7,
            at_unix_secs: 0,
        },
    );
    f.write(2, set(b"twin", b"2", version_at(now_ms())));
    f.acked(2);
    assert_eq!(repl_stat(&mut c, "versions_refused"), 1);
    assert_eq!(repl_stat(&mut c, "records_applied"), 1);
    assert_eq!(c.get("before").unwrap(), b"1");
    assert_eq!(c.get("twin").unwrap(), b"2");
    assert_eq!(c.set("after", b"3"), "STORED\r\n");
    assert_eq!(c.get("after").unwrap(), b"3");
}

/// A write versioned a day ahead used to win over every later write to its key, the real
/// twin's included. Now it is refused, and the real writes land.
#[test]
fn a_write_from_the_far_future_does_not_outrank_real_writes() {
    let (server, rport) = node();
    let mut c = server.client();
    let mut f = Forger::handshake(rport);
    let day_ahead = now_ms() + 86_400_000;
    f.write(1, set(b"k", b"forged", version_at(day_ahead)));
    f.acked(1);
    assert_eq!(repl_stat(&mut c, "versions_refused"), 1);
    assert_eq!(c.get("k"), None);
    assert_eq!(c.set("k", b"local"), "STORED\r\n");
    assert_eq!(c.get("k").unwrap(), b"local");
    // The twin's honest write after it (a second later, within the bound) wins by the
    // usual rule.
    f.write(2, set(b"k", b"twin", version_at(now_ms() + 1000)));
    f.acked(2);
    assert_eq!(c.get("k").unwrap(), b"twin");
}

/// A delete naming a 1 MiB key is not client input anyone could send: the link is closed,
/// the frame counted, and nothing is deleted.
#[test]
fn a_delete_with_an_oversized_key_closes_the_link_and_is_counted() {
    let (server, rport) = node();
    let mut c = server.client();
    assert_eq!(c.set("k", b"kept"), "STORED\r\n");
    let mut f = Forger::handshake(rport);
    let version = version_at(now_ms());
    f.write(
        1,
        Mutation::Delete {
            key: vec![b'k'; 1 << 20],
            version,
        },
    );
    assert_eq!(f.next(), None, "the link stays open");
    assert_eq!(repl_stat(&mut c, "frames_refused"), 1);
    assert_eq!(repl_stat(&mut c, "records_applied"), 0);
    assert_eq!(c.get("k").unwrap(), b"kept");
    // A well-formed twin can still connect afterwards.
    let mut f = Forger::handshake(rport);
    f.write(1, set(b"j", b"ok", version_at(now_ms())));
    f.acked(1);
    assert_eq!(c.get("j").unwrap(), b"ok");
}

/// Idle connections held open (nothing sent) until the handshake times out.
fn idle_flood(rport: u16, n: usize) -> Vec<Forger> {
    (0..n).map(|_| Forger::connect(rport)).collect()
}

/// Connects until the node lets a connection into the handshake (a flood's places come
/// back as its connections close) and passes it.
fn handshake_when_admitted(rport: u16) -> Forger {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut f = Forger::connect(rport);
        if matches!(f.next(), Some(Frame::Challenge { .. })) {
            f.send(&Frame::Hello {
                repl_id: 0x5eed_f00d,
                node_id: 9,
                shard: 0,
                shards: 1,
                mac: [0; 32],
            });
            assert_eq!(f.next(), Some(Frame::Welcome { next_seq: 0 }));
            return f;
        }
        assert!(Instant::now() < deadline, "never admitted");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// 200 connections that send nothing: all but the bound are closed before a challenge and
/// counted, and the client port answers at once all the while (4,100 of them used to take
/// every fd and stop the client port).
#[test]
fn idle_connections_over_the_bound_are_closed_and_clients_still_answer() {
    let (server, rport) = node();
    let mut idle = idle_flood(rport, 200);
    let mut c = server.client();
    let asked = Instant::now();
    assert!(c.line("version").starts_with("VERSION "));
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    let challenged = idle.iter_mut().filter_map(|f| f.next()).count();
    assert!((1..=MAX_PENDING).contains(&challenged), "{challenged}");
    assert_eq!(repl_stat(&mut c, "links_refused"), 200 - challenged as u64);
    drop(idle);
    let mut f = handshake_when_admitted(rport);
    f.write(1, set(b"k", b"v", version_at(now_ms())));
    f.acked(1);
    assert_eq!(c.get("k").unwrap(), b"v");
}

/// A second link of a live stream (the twin reconnected after a cut the node did not see)
/// takes over: the old one is closed, the new one applies.
#[test]
fn a_second_link_of_a_live_stream_closes_the_first() {
    let (server, rport) = node();
    let mut c = server.client();
    let mut old = Forger::handshake(rport);
    let mut new = Forger::handshake(rport);
    assert_eq!(old.next(), None, "the old link stays open");
    new.write(1, set(b"k", b"new", version_at(now_ms())));
    new.acked(1);
    assert_eq!(c.get("k").unwrap(), b"new");
    assert_eq!(repl_stat(&mut c, "links_refused"), 0);
}

/// A real twin pair whose replication ports are flooded with idle connections as they
/// start: the twins' own links get in once the flood's handshakes time out, and converge.
#[test]
fn a_twin_pair_converges_through_a_flood_of_idle_connections() {
    let (ra, rb) = (free_port(), free_port());
    let (xa, xb) = (ra.to_string(), rb.to_string());
    let (ta, tb) = (format!("127.0.0.1:{ra}"), format!("127.0.0.1:{rb}"));
    let a = Server::start(&["-X", &xa, "--twin", &tb, "-t", "2"]);
    let _flood_a = idle_flood(ra, 200);
    let b = Server::start(&["-X", &xb, "--twin", &ta, "-t", "2"]);
    let _flood_b = idle_flood(rb, 200);
    let (mut ca, mut cb) = (a.client(), b.client());
    for i in 0..50 {
        assert_eq!(ca.set(&format!("a{i}"), b"1"), "STORED\r\n");
        assert_eq!(cb.set(&format!("b{i}"), b"2"), "STORED\r\n");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let converged = |ca: &mut Client, cb: &mut Client| {
        (0..50).all(|i| cb.get(&format!("a{i}")).is_some() && ca.get(&format!("b{i}")).is_some())
    };
    while !converged(&mut ca, &mut cb) {
        assert!(Instant::now() < deadline, "the twins never converged");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(repl_stat(&mut ca, "links_refused") > 0);
    assert!(repl_stat(&mut cb, "links_refused") > 0);
}
