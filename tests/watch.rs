//! `watch`: a connection turned into memcached's log stream. Two shards with keys on both,
//! every event kind with its fields, a slow watcher that stays bounded and is told
//! `skipped=`, cleanup when a watcher leaves, the refusals, and the lines byte for byte
//! against Debian's memcached 1.6.18 for the same requests.

mod common;

use common::{Client, Server, start_memcached};
use corecached::server::router::shard_of;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A watcher connection, read line by line.
struct Watch {
    r: BufReader<TcpStream>,
}

impl Watch {
    fn start(port: u16, kinds: &str) -> Watch {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut w = Watch {
            r: BufReader::new(s),
        };
        w.r.get_mut()
            .write_all(format!("watch {kinds}\r\n").as_bytes())
            .unwrap();
        assert_eq!(w.line(), "OK\r\n");
        w
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).expect("watch line");
        assert!(!l.is_empty(), "watcher closed");
        l
    }

    /// The next line that is not a connection event (the harness's own connections may
    /// close while a test runs).
    fn op_line(&mut self) -> String {
        loop {
            let l = self.line();
            if !l.contains(" type=conn_") {
                return l;
            }
        }
    }

    /// Lines until one contains `want` (at most `max`); returns that one.
    fn until(&mut self, want: &str, max: usize) -> String {
        for _ in 0..max {
            let l = self.line();
            if l.contains(want) {
                return l;
            }
        }
        panic!("no line with {want:?} in {max} lines");
    }
}

/// The value of `name=` in a log line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let at = line
        .find(&format!(" {name}="))
        .unwrap_or_else(|| panic!("no {name}= in {line}"));
    let rest = &line[at + name.len() + 2..];
    rest.split([' ', '\n']).next().unwrap()
}

/// A key owned by `shard` of `n`.
fn key_on(shard: usize, n: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| shard_of(k.as_bytes(), n) == shard)
        .unwrap()
}

#[test]
fn every_kind_has_its_fields_on_both_shards() {
    let server = Server::start(&["-t", "2"]);
    let mut w = Watch::start(server.port, "fetchers mutations deletions connevents");
    let mut c = server.client();
    let new = w.until("type=conn_new", 10);
    assert_eq!(field(&new, "rip"), "127.0.0.1");
    assert_eq!(field(&new, "transport"), "tcp");
    let cfd = field(&new, "cfd").to_string();
    for shard in 0..2 {
        let key = key_on(shard, 2, "k");
        assert_eq!(c.set(&key, b"hello"), "STORED\r\n");
        assert_eq!(c.get(&key).as_deref(), Some(&b"hello"[..]));
        assert_eq!(c.line(&format!("delete {key}")), "DELETED\r\n");
        let miss = w.op_line();
        assert!(miss.contains(&format!(
            "type=item_get key={key} status=not_found clsid=0 "
        )));
        let stored = w.op_line();
        assert!(stored.contains(&format!(
            "type=item_store key={key} status=stored cmd=set ttl=0 "
        )));
        assert_eq!(field(&stored, "size"), "5");
        let hit = w.op_line();
        assert!(hit.contains("status=found"), "{hit}");
        assert_eq!(field(&hit, "size"), "5");
        assert_eq!(field(&hit, "clsid"), field(&stored, "clsid"));
        let before_delete = w.op_line();
        assert!(before_delete.contains("type=item_get") && before_delete.contains("found"));
        let deleted = w.op_line();
        assert!(deleted.contains(&format!("type=deleted key={key} cmd=delete clsid=")));
        // Local or remote, the op is the asking connection's.
        for l in [&miss, &stored, &hit] {
            assert_eq!(field(l, "cfd"), cfd, "{l}");
            assert!(l.starts_with("ts=") && l.contains(" gid="));
        }
    }
    c.send(b"quit\r\n");
    let close = w.until(&format!("cfd={cfd}\n"), 10);
    assert!(close.contains(" type=conn_close rip=127.0.0.1 "), "{close}");
    assert_eq!(field(&close, "reason"), "normal");
    let mut bad = server.client();
    bad.send(b"GET / HTTP/1.1\r\n");
    let new = w.until("type=conn_new", 10);
    let bad_cfd = field(&new, "cfd").to_string();
    let close = w.until(&format!("cfd={bad_cfd}\n"), 10);
    assert_eq!(field(&close, "reason"), "error", "{close}");
}

#[test]
fn evictions_are_reported_from_every_shard() {
    let server = Server::start(&["-t", "2", "-m", "8"]);
    let mut w = Watch::start(server.port, "evictions");
    let mut c = server.client();
    let value = vec![b'v'; 10_000];
    let mut shards_seen = [false; 2];
    let mut batch = Vec::new();
    for i in 0..2_000 {
        batch.extend_from_slice(format!("set ev{i} 0 0 {} noreply\r\n", value.len()).as_bytes());
        batch.extend_from_slice(&value);
        batch.extend_from_slice(b"\r\n");
    }
    c.send(&batch);
    assert!(c.line("version").starts_with("VERSION"));
    for _ in 0..200 {
        let l = w.until("type=eviction", 1);
        let key = field(&l, "key");
        assert_eq!(field(&l, "fetch"), "no");
        assert_eq!(field(&l, "ttl"), "-1");
        assert_eq!(field(&l, "size"), "10000");
        assert!(field(&l, "la").parse::<u32>().is_ok());
        assert!(field(&l, "clsid").parse::<u32>().unwrap() > 0);
        shards_seen[shard_of(key.as_bytes(), 2)] = true;
        if shards_seen == [true, true] {
            return;
        }
    }
    panic!("evictions of one shard only: {shards_seen:?}");
}

/// Resident memory of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_slow_watcher_stays_bounded_and_is_told_what_it_missed() {
    let server = Server::start(&["-t", "2", "-o", "watcher_logbuf_size=8"]);
    let mut w = Watch::start(server.port, "fetchers");
    let mut c = server.client();
    let spacer = "X".repeat(180);
    let burst = |c: &mut Client, round: usize| {
        let mut req = Vec::new();
        for i in 0..1_000 {
            req.extend_from_slice(format!("get r{round}k{i}{spacer}\r\n").as_bytes());
        }
        c.send(&req);
        let mut ends = 0;
        while ends < 1_000 {
            let got = c.read_until(b"END\r\n");
            ends += got.windows(5).filter(|w| w == b"END\r\n").count();
        }
    };
    // Fill the socket buffers first; then compare memory over as many events again.
    for round in 0..30 {
        burst(&mut c, round);
    }
    let before = rss_kb(server.child.id());
    for round in 30..90 {
        burst(&mut c, round);
    }
    let after = rss_kb(server.child.id());
    // 60,000 lines of ~280 bytes (16 MB) went to a watcher that reads nothing.
    assert!(
        after < before + 8_192,
        "RSS grew from {before} kB to {after} kB"
    );
    assert!(c.stat("log_watcher_skipped") > 0);
    // Reading again, with no new event: once the queue has drained, `skipped=N` follows
    // what it held (t/watcher.t's reader makes a line only every 100 it reads).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no skipped= line");
        let l = w.line();
        if l.starts_with("skipped=") {
            assert!(l.trim_end()["skipped=".len()..].parse::<u64>().unwrap() > 0);
            break;
        }
    }
    assert!(c.get("nudge").is_none());
    assert!(w.line().contains("type=item_get"));
}

#[test]
fn a_closed_watcher_is_gone_and_refusals_match_memcached() {
    let server = Server::start(&["-t", "2"]);
    let mut c = server.client();
    let w = Watch::start(server.port, "");
    let w2 = Watch::start(server.port, "mutations evictions");
    assert_eq!(c.stat("log_watchers"), 2);
    drop(w);
    drop(w2);
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.stat("log_watchers") != 0 {
        assert!(Instant::now() < deadline, "watchers never left");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.line("watch bogus"), "ERROR\r\n");
    c.send(b"version\r\nwatch\r\n");
    let got = String::from_utf8(c.read_until(b"watch\r\n")).unwrap();
    assert!(got.starts_with("VERSION "), "{got}");
    assert!(got.ends_with("\r\nERROR cannot pipeline other commands before watch\r\n"));
    // The connection still serves requests after a refusal.
    assert_eq!(c.set("x", b"1"), "STORED\r\n");

    let off = Server::start(&["-W"]);
    let mut c = off.client();
    assert_eq!(
        c.line("watch mutations"),
        "CLIENT_ERROR watch commands not allowed\r\n"
    );
}

/// The requests both servers get, and what each line must be, masked where the two
/// necessarily differ (time, and the connection id: memcached's is its fd).
const SCRIPT: &[&[u8]] = &[
    b"get foo\r\n",
    b"set foo 0 0 3\r\nbar\r\n",
    b"gets foo nope\r\n",
    b"add foo 0 0 1\r\nx\r\n",
    b"add new 5 100 1\r\nx\r\n",
    b"replace zz 0 0 2\r\nxx\r\n",
    b"append foo 0 0 1\r\na\r\n",
    b"prepend foo 0 0 1\r\np\r\n",
    b"cas foo 0 0 1 999\r\nc\r\n",
    b"cas zz 0 0 1 999\r\nc\r\n",
    b"incr n 1\r\n",
    b"touch foo 10\r\n",
    b"gat 10 foo\r\n",
    b"delete foo\r\n",
    b"set k%20 0 0 1\r\n1\r\n",
    b"mg k%20 v\r\n",
    b"ms m 2\r\nhi\r\n",
    b"md m\r\n",
];

fn masked(port: u16) -> Vec<String> {
    let mut w = Watch::start(port, "fetchers mutations");
    let mut c = Client::connect(port);
    for req in SCRIPT {
        c.send(req);
        let mut b = [0u8; 4096];
        let _ = c.stream.read(&mut b).unwrap();
    }
    (0..29)
        .map(|_| {
            let l = w.line();
            let cfd = field(&l, "cfd").to_string();
            let rest = &l[l.find(" gid=").unwrap()..];
            rest.replace(&format!(" cfd={cfd} "), " cfd=C ")
        })
        .collect()
}

#[test]
fn lines_match_memcached_byte_for_byte() {
    let Some((_m, mport)) = start_memcached() else {
        return;
    };
    let server = Server::start(&["-t", "1"]);
    let theirs = masked(mport);
    let ours = masked(server.port);
    for (a, b) in theirs.iter().zip(&ours) {
        assert_eq!(a, b);
    }
}
