//! memcached's `-U` UDP listener: the 8-byte frame header, replies cut per response into
//! datagrams of at most 1400 bytes, keys routed to every shard, and the same datagrams
//! memcached 1.6.18 sends for the same requests.

mod common;

use common::{Server, tool_present};
use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// A corecached with UDP on; a UDP port taken meanwhile by a parallel test means: retry.
fn start(threads: &str) -> (Server, u16) {
    for _ in 0..5 {
        let udp = free_udp_port();
        if let Ok(s) = Server::try_start(&["-t", threads, "-U", &udp.to_string()]) {
            return (s, udp);
        }
    }
    panic!("server with UDP did not start");
}

fn client(port: u16) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(("127.0.0.1", port)).unwrap();
    // Not a timing assertion: a bound so that a lost reply fails instead of hanging.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn send(s: &UdpSocket, id: u16, payload: &[u8]) {
    let mut d = id.to_be_bytes().to_vec();
    d.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
    d.extend_from_slice(payload);
    s.send(&d).unwrap();
}

fn recv(s: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let n = s.recv(&mut buf).expect("a reply datagram");
    buf[..n].to_vec()
}

/// Sends `payload` as request `id`, then a `version` as request `id + 1`, and returns the
/// datagrams that came back for `id` (replies come back in request order).
fn ask(s: &UdpSocket, id: u16, payload: &[u8]) -> Vec<Vec<u8>> {
    send(s, id, payload);
    send(s, id + 1, b"version\r\n");
    let mut got = Vec::new();
    loop {
        let d = recv(s);
        if d[..2] == (id + 1).to_be_bytes() {
            return got;
        }
        assert_eq!(d[..2], id.to_be_bytes(), "request id echoed");
        got.push(d);
    }
}

fn header(d: &[u8]) -> [u16; 4] {
    [0, 2, 4, 6].map(|i| u16::from_be_bytes([d[i], d[i + 1]]))
}

fn payloads(ds: &[Vec<u8>]) -> Vec<&[u8]> {
    ds.iter().map(|d| &d[8..]).collect()
}

fn tcp_set(port: u16, key: &str, value: &[u8]) {
    let mut c = common::Client::connect(port);
    assert_eq!(c.set(key, value), "STORED\r\n");
}

#[test]
fn gets_sets_and_deletes_over_udp_on_every_shard() {
    for threads in ["1", "4"] {
        let (server, udp) = start(threads);
        let u = client(udp);
        for i in 0..20 {
            let key = format!("k{i}");
            let set = format!("set {key} 3 0 2\r\nv{}\r\n", i % 10);
            assert_eq!(payloads(&ask(&u, 10, set.as_bytes())), [b"STORED\r\n"]);
            let want = format!("VALUE {key} 3 2\r\nv{}\r\nEND\r\n", i % 10);
            let got = ask(&u, 20, format!("get {key}\r\n").as_bytes());
            assert_eq!(payloads(&got), [want.as_bytes()]);
            assert_eq!(header(&got[0]), [20, 0, 1, 0]);
        }
        assert_eq!(server.client().get("k7").as_deref(), Some(&b"v7"[..]));
        let del = ask(&u, 30, b"delete k3\r\ndelete k3\r\n");
        assert_eq!(payloads(&del), [&b"DELETED\r\n"[..], b"NOT_FOUND\r\n"]);
        // Every key of a multi-get, whichever shard owns it, in key order, one response
        // each; a first key missed (k3 is deleted) is a bare header, as memcached sends it.
        let multi = ask(&u, 40, b"get k3 k1 k2 k3 k4\r\n");
        let want: [&[u8]; 4] = [
            b"",
            b"VALUE k1 3 2\r\nv1\r\n",
            b"VALUE k2 3 2\r\nv2\r\n",
            b"VALUE k4 3 2\r\nv4\r\nEND\r\n",
        ];
        assert_eq!(payloads(&multi), want);
    }
}

#[test]
fn a_large_reply_spans_datagrams_of_1400_bytes() {
    let (server, udp) = start("2");
    let value: Vec<u8> = (0..20000u32).map(|i| b'A' + (i % 26) as u8).collect();
    tcp_set(server.port, "big", &value);
    let got = ask(&client(udp), 53, b"get big\r\n");
    let whole: Vec<u8> = got.iter().flat_map(|d| d[8..].to_vec()).collect();
    let mut want = b"VALUE big 0 20000\r\n".to_vec();
    want.extend_from_slice(&value);
    want.extend_from_slice(b"\r\nEND\r\n");
    assert_eq!(whole, want);
    let n = want.len().div_ceil(1392) as u16;
    for (seq, d) in got.iter().enumerate() {
        assert_eq!(header(d), [53, seq as u16, n, 0]);
        assert!(d.len() <= 1400);
    }
    // A request datagram is read whole, however large.
    let mut set = b"set up 0 0 30000\r\n".to_vec();
    set.extend_from_slice(&[b'u'; 30000]);
    set.extend_from_slice(b"\r\n");
    assert_eq!(payloads(&ask(&client(udp), 60, &set)), [b"STORED\r\n"]);
    assert_eq!(server.client().get("up"), Some(vec![b'u'; 30000]));
}

#[test]
fn binary_requests_and_dropped_datagrams() {
    let (_server, udp) = start("2");
    let u = client(udp);
    // Binary set of "bk" = "1", then a binary get: status 0 and the value.
    let mut set = vec![0x80, 0x01, 0, 2, 8, 0, 0, 0, 0, 0, 0, 11];
    set.resize(24, 0);
    set.extend_from_slice(&[0; 8]);
    set.extend_from_slice(b"bk1");
    let r = ask(&u, 5, &set);
    assert_eq!((r.len(), r[0][8], r[0][8 + 7]), (1, 0x81, 0));
    let mut get = vec![0x80, 0x00, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2];
    get.resize(24, 0);
    get.extend_from_slice(b"bk");
    let r = ask(&u, 7, &get);
    assert_eq!((r[0][8 + 7], r[0].last()), (0, Some(&b'1')));
    // A datagram that claims to be one of two, or that carries no request, is dropped:
    // the next reply is the next request's.
    let mut two = vec![0, 9, 0, 0, 0, 2, 0, 0];
    two.extend_from_slice(b"get bk\r\n");
    u.send(&two).unwrap();
    u.send(&[0, 9, 0, 0, 0, 1, 0, 0]).unwrap();
    send(&u, 11, b"version\r\n");
    assert_eq!(header(&recv(&u))[0], 11);
}

/// memcached 1.6.18 with UDP on; killed when dropped.
struct Memcached(Child);

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_memcached() -> Option<(Memcached, u16, u16)> {
    if !tool_present("sh", &["-c", "command -v memcached"], "memcached") {
        return None;
    }
    for _ in 0..5 {
        let (tcp, udp) = (common::free_port(), free_udp_port());
        let child = Command::new("memcached")
            .args(["-u", "root", "-t", "1", "-l", "127.0.0.1"])
            .args(["-p", &tcp.to_string(), "-U", &udp.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn memcached");
        let mut m = Memcached(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && m.0.try_wait().ok().flatten().is_none() {
            if TcpStream::connect(("127.0.0.1", tcp)).is_ok() {
                return Some((m, tcp, udp));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("memcached did not start");
}

#[test]
fn the_same_datagrams_as_memcached() {
    let Some((_m, m_tcp, m_udp)) = start_memcached() else {
        return;
    };
    let (server, udp) = start("4");
    let big = vec![b'x'; 3000];
    for port in [m_tcp, server.port] {
        tcp_set(port, "a", b"A");
        tcp_set(port, "b", b"BB");
        tcp_set(port, "big", &big);
    }
    let cases: [&[u8]; 15] = [
        b"get a\r\n",
        b"get a b nope\r\n",
        b"get nope a\r\n",
        b"get a\r\nget b\r\nget nope\r\n",
        b"get big\r\n",
        b"get big a big\r\n",
        b"get big nope\r\n",
        b"get n1 n2 a\r\n",
        b"get n1 a n2 n3 b n4\r\n",
        b"get a b\r\nget n1 n2\r\n",
        b"set c 0 0 1\r\nC\r\n",
        b"delete c\r\ndelete c\r\n",
        b"incr nope 1\r\n",
        b"bogus\r\n",
        b"get a",
    ];
    let (mu, cu) = (client(m_udp), client(udp));
    for (i, case) in cases.iter().enumerate() {
        let id = 100 + 2 * i as u16;
        let want = ask(&mu, id, case);
        let got = ask(&cu, id, case);
        assert_eq!(got, want, "{}", String::from_utf8_lossy(case));
    }
}
