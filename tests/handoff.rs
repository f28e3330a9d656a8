//! A request another shard owns, alone in its read, is answered by that shard writing to
//! the client's socket itself: the answers must still be whole, in order, and the
//! connection the asking shard's again for whatever comes next.

mod common;
use common::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Keys enough that some are owned by each shard, whichever shard took the connection.
fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("hk:{i}")).collect()
}

#[test]
fn answers_written_by_the_owner_are_whole_and_in_order() {
    let s = Server::start(&["-t", "4"]);
    let mut c = s.client();
    let before = c.shards_stat("cross_shard_handoffs");
    for (i, k) in keys(64).iter().enumerate() {
        assert_eq!(c.set(k, format!("value-{i}").as_bytes()), "STORED\r\n");
    }
    for (i, k) in keys(64).iter().enumerate() {
        assert_eq!(c.get(k), Some(format!("value-{i}").into_bytes()), "{k}");
        assert_eq!(c.line(&format!("incr n:{k} 1")), "NOT_FOUND\r\n");
        assert_eq!(c.line(&format!("touch {k} 0")), "TOUCHED\r\n");
    }
    // About three keys in four belong to another shard, and each of their requests came
    // alone in its read: those went by handoff.
    let handed = c.shards_stat("cross_shard_handoffs") - before;
    assert!(handed >= 64, "only {handed} handoffs");

    // Each request in its own packet, sent before the answer to the one before is read:
    // a handed-off answer must come out before the next one.
    let mut want = Vec::new();
    for (i, k) in keys(64).iter().enumerate() {
        c.send(format!("get {k}\r\n").as_bytes());
        std::thread::sleep(Duration::from_micros(200));
        want.extend_from_slice(
            format!(
                "VALUE {k} 0 {}\r\nvalue-{i}\r\nEND\r\n",
                6 + i.to_string().len()
            )
            .as_bytes(),
        );
    }
    assert_eq!(c.read_exact(want.len()), want);
}

#[test]
fn a_quiet_write_is_done_before_the_next_request_runs() {
    let s = Server::start(&["-t", "4"]);
    let mut c = s.client();
    for (i, k) in keys(64).iter().enumerate() {
        c.send(format!("set {k} 0 0 2 noreply\r\nv{}\r\n", i % 10).as_bytes());
        std::thread::sleep(Duration::from_millis(1));
        assert_eq!(c.get(k), Some(format!("v{}", i % 10).into_bytes()), "{k}");
        c.send(format!("delete {k} noreply\r\n").as_bytes());
        std::thread::sleep(Duration::from_millis(1));
        assert_eq!(c.get(k), None, "{k}");
    }
}

#[test]
fn answers_bigger_than_the_socket_takes_arrive_whole() {
    let s = Server::start(&["-t", "2", "-m", "256"]);
    let mut c = s.client();
    let big: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b'a' + i; 1_000_000]).collect();
    for (k, v) in keys(4).iter().zip(&big) {
        assert_eq!(c.set(k, v), "STORED\r\n");
    }
    // 16 MB of answers asked for one read at a time by a client that reads nothing until
    // the end: the socket's buffers fill, so owners meet a full socket (EAGAIN, or a
    // part taken) and leave the rest to the connection's own shard.
    let mut slow = s.client();
    let before = slow.shards_stat("cross_shard_handoffs");
    let mut want = Vec::new();
    for i in 0..16 {
        let (k, v) = (&keys(4)[i % 4], &big[i % 4]);
        slow.send(format!("get {k}\r\n").as_bytes());
        std::thread::sleep(Duration::from_millis(20));
        want.extend_from_slice(format!("VALUE {k} 0 {}\r\n", v.len()).as_bytes());
        want.extend_from_slice(v);
        want.extend_from_slice(b"\r\nEND\r\n");
    }
    let got = slow.read_exact(want.len());
    assert!(got == want, "the answers differ");
    assert_eq!(slow.line("version").split(' ').next(), Some("VERSION"));
    // Requests that queued up behind a blocked write arrive together and go the usual
    // way, so how many went by handoff depends on timing; the first ones always do.
    let handed = slow.shards_stat("cross_shard_handoffs") - before;
    assert!(handed >= 1, "{handed} handoffs");
}

#[test]
fn clients_that_leave_before_their_answer_do_not_hurt_the_server() {
    let s = Server::start(&["-t", "4"]);
    let mut c = s.client();
    let value = vec![b'z'; 200_000];
    for k in keys(16) {
        assert_eq!(c.set(&k, &value), "STORED\r\n");
    }
    for round in 0..200 {
        let mut t = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        let k = format!("hk:{}", round % 16);
        t.write_all(format!("get {k}\r\nget {k}\r\n").as_bytes())
            .unwrap();
        if round % 2 == 0 {
            // Read a little, then go: the owner's write may meet a closed socket.
            let mut b = [0u8; 64];
            let _ = t.read(&mut b);
        }
        drop(t);
    }
    for k in keys(16) {
        assert_eq!(c.get(&k).map(|v| v.len()), Some(value.len()), "{k}");
    }
    assert!(common::eventually(10, || c.stat("curr_connections") == 1));
}

#[test]
fn meta_answers_written_by_the_owner_echo_their_request() {
    let s = Server::start(&["-t", "4"]);
    let mut c = s.client();
    let before = c.shards_stat("cross_shard_handoffs");
    for (i, k) in keys(64).iter().enumerate() {
        let set = format!("ms {k} 2 F{i} T0 O{i} k\r\nv{}\r\n", i % 10);
        assert_eq!(c.call(set.as_bytes(), "\r\n"), format!("HD O{i} k{k}\r\n"));
        let get = format!("mg {k} v f k O{i}\r\n");
        let want = format!("VA 2 f{i} k{k} O{i}\r\nv{}\r\n", i % 10);
        assert_eq!(c.call(get.as_bytes(), &want), want);
        // Quiet and a no-op after it: the owner writes nothing for the hit's quiet
        // delete, then the `MN` that follows it.
        let quiet = format!("md {k} q O{i}\r\nmn\r\n");
        assert_eq!(c.call(quiet.as_bytes(), "MN\r\n"), "MN\r\n");
        assert_eq!(
            c.call(format!("mg {k} v\r\n").as_bytes(), "EN\r\n"),
            "EN\r\n"
        );
    }
    let handed = c.shards_stat("cross_shard_handoffs") - before;
    assert!(handed >= 64, "only {handed} handoffs");
}

/// A binary request packet: `op` on `key` with `extras` and `value`, `opaque` echoed back.
fn bin_packet(op: u8, key: &[u8], extras: &[u8], value: &[u8], opaque: u32) -> Vec<u8> {
    let body = (extras.len() + key.len() + value.len()) as u32;
    let mut p = vec![0x80, op];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.extend_from_slice(&[extras.len() as u8, 0, 0, 0]);
    p.extend_from_slice(&body.to_be_bytes());
    p.extend_from_slice(&opaque.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    [p, extras.to_vec(), key.to_vec(), value.to_vec()].concat()
}

/// Sends `req` alone and reads response packets until one with opcode `until`, each as
/// "opcode status opaque body" with the CAS left out (they differ between servers).
fn bin_call(c: &mut std::net::TcpStream, req: &[u8], until: u8) -> Vec<String> {
    c.write_all(req).unwrap();
    let mut got = Vec::new();
    loop {
        let mut h = [0u8; 24];
        c.read_exact(&mut h).unwrap();
        let len = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len];
        c.read_exact(&mut body).unwrap();
        let opaque = u32::from_be_bytes(h[12..16].try_into().unwrap());
        let status = u16::from_be_bytes([h[6], h[7]]);
        let body = String::from_utf8_lossy(&body);
        got.push(format!("{:02x} {status} {opaque} {body:?}", h[1]));
        if h[1] == until {
            return got;
        }
    }
}

/// The same binary conversation, one packet per read, with the answers it got.
fn binary_conversation(port: u16) -> Vec<String> {
    const SET: u8 = 0x01;
    const GET: u8 = 0x00;
    const GETK: u8 = 0x0c;
    const GETKQ: u8 = 0x0d;
    const NOOP: u8 = 0x0a;
    const DELETE: u8 = 0x04;
    const INCR: u8 = 0x05;
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.set_nodelay(true).unwrap();
    let mut log = Vec::new();
    for (i, k) in keys(32).iter().enumerate() {
        let (k, n) = (k.as_bytes(), i as u32);
        let set_extras = [n.to_be_bytes(), 0u32.to_be_bytes()].concat();
        let value = format!("value-{i}");
        log.extend(bin_call(
            &mut c,
            &bin_packet(SET, k, &set_extras, value.as_bytes(), n),
            SET,
        ));
        log.extend(bin_call(&mut c, &bin_packet(GET, k, &[], &[], n), GET));
        let missing = format!("missing:{i}");
        log.extend(bin_call(
            &mut c,
            &bin_packet(GETK, missing.as_bytes(), &[], &[], n),
            GETK,
        ));
        // A quiet get's hit and then the noop: the owner writes both.
        let quiet = [
            bin_packet(GETKQ, k, &[], &[], n),
            bin_packet(NOOP, b"", &[], &[], n),
        ]
        .concat();
        log.extend(bin_call(&mut c, &quiet, NOOP));
        // Delta 5, initial 7, expiry 0: creates the missing counter.
        let incr_extras = [&5u64.to_be_bytes()[..], &7u64.to_be_bytes(), &[0; 4]].concat();
        log.extend(bin_call(
            &mut c,
            &bin_packet(INCR, missing.as_bytes(), &incr_extras, &[], n),
            INCR,
        ));
        log.extend(bin_call(
            &mut c,
            &bin_packet(DELETE, k, &[], &[], n),
            DELETE,
        ));
    }
    log
}

#[test]
fn binary_answers_written_by_the_owner_match_memcached() {
    let Some((_memcached, mport)) = common::start_memcached() else {
        return;
    };
    let s = Server::start(&["-t", "4"]);
    let mut c = s.client();
    let before = c.shards_stat("cross_shard_handoffs");
    let want = binary_conversation(mport);
    let got = binary_conversation(s.port);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "answer {i}");
    }
    assert_eq!(got.len(), want.len());
    let handed = c.shards_stat("cross_shard_handoffs") - before;
    assert!(handed >= 32, "only {handed} handoffs");
}

#[test]
fn a_stop_lets_a_handed_off_answer_finish_whole() {
    let mut s = Server::start(&["-t", "2", "-m", "256", "-I", "16m"]);
    let mut slow = s.client();
    // A key the other shard owns: its get goes by handoff.
    let remote = (0..32)
        .map(|i| format!("big:{i}"))
        .find(|k| {
            assert_eq!(slow.set(k, b"x"), "STORED\r\n");
            let before = slow.shards_stat("cross_shard_handoffs");
            slow.get(k);
            slow.shards_stat("cross_shard_handoffs") > before
        })
        .expect("a key of the other shard");
    let value = vec![b'q'; 10 << 20];
    assert_eq!(slow.set(&remote, &value), "STORED\r\n");
    // 10 MB is more than the socket takes while the client reads nothing: the owner
    // writes a part and leaves the rest to the connection's shard. Then the stop, which
    // must wait (within its 2 s) until that rest is written too.
    let got = stop_before_reading(&s, &mut slow, format!("get {remote}\r\n").as_bytes());
    let want = value_answer(&remote, &value);
    assert!(got == want, "{} bytes of {}", got.len(), want.len());
    assert!(s.terminate().is_some_and(|st| st.success()));
}

/// Sends `req`, stops the server while nothing of the answer is read yet, then reads
/// everything until the server closes the connection.
fn stop_before_reading(s: &Server, c: &mut common::Client, req: &[u8]) -> Vec<u8> {
    c.send(req);
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: signalling our own child process by its pid.
    unsafe { libc::kill(s.pid(), libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    let mut got = Vec::new();
    c.stream.read_to_end(&mut got).unwrap();
    got
}

/// A text get's answer for a hit on `key` with `value` (flags 0).
fn value_answer(key: &str, value: &[u8]) -> Vec<u8> {
    let mut answer = format!("VALUE {key} 0 {}\r\n", value.len()).into_bytes();
    answer.extend_from_slice(value);
    answer.extend_from_slice(b"\r\nEND\r\n");
    answer
}

/// `n` keys with `prefix` that shard `shard` of 2 owns.
fn keys_of(shard: usize, prefix: &str, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| corecached::server::router::shard_of(k.as_bytes(), 2) == shard)
        .take(n)
        .collect()
}

/// Keys the other shard owns: from a get of a key shard 0 owns, whose handoff counts
/// on shard 1 if the connection is there.
fn remote_keys(c: &mut common::Client, prefix: &str, n: usize) -> Vec<String> {
    let probe = &keys_of(0, "probe", 1)[0];
    let on_one = |c: &mut common::Client| c.stats("shards")["shard:1:cross_shard_handoffs"].clone();
    let before = on_one(c);
    assert_eq!(c.get(probe), None);
    let home = usize::from(on_one(c) != before);
    keys_of(1 - home, prefix, n)
}

/// Mixed requests over `near` and `far` keys, in one write (a pipelined client's read):
/// it starts with a get of a `near` key.
fn mixed_pipeline(near: &[String], far: &[String]) -> Vec<u8> {
    let mut req = Vec::new();
    for (i, (ka, kb)) in near.iter().zip(far).enumerate() {
        req.extend_from_slice(
            format!(
                "get {ka}\r\nset {kb} 0 0 3\r\nb{i:02}\r\nget {kb} {ka} nokey\r\nincr {ka} 5\r\n\
                 delete {kb}x\r\ntouch {kb} 0\r\nset {ka}n 0 0 1 noreply\r\nz\r\nappend {kb} 0 0 1\r\n+\r\n\
                 get {kb}\r\ndecr {kb}n 1\r\n"
            )
            .as_bytes(),
        );
    }
    req
}

/// Sends `req` then `version`, and returns every answer up to `version`'s.
fn answers_to(c: &mut common::Client, req: &[u8]) -> String {
    c.send(req);
    c.send(b"version\r\n");
    let mut got = String::new();
    loop {
        got.push_str(std::str::from_utf8(&c.read_until(b"\r\n")).unwrap());
        let last = got.trim_end().rsplit("\r\n").next().unwrap_or("");
        if last.starts_with("VERSION ") {
            return got;
        }
    }
}

/// The answers `c`'s server gives `req` (with the `near` keys set first), and how many
/// requests went by handoff.
fn counted_answers(c: &mut common::Client, near: &[String], req: &[u8]) -> (String, u64) {
    for (i, k) in near.iter().enumerate() {
        assert_eq!(c.set(k, format!("{i}").as_bytes()), "STORED\r\n");
    }
    let before = c.shards_stat("cross_shard_handoffs");
    let got = answers_to(c, req);
    (got, c.shards_stat("cross_shard_handoffs") - before)
}

/// Sends a `-t 2` server, in one write, the pipeline `make` builds over 8 keys of the
/// connection's shard (`near`) and 8 of the other's (`far`), and checks the answers are a
/// `-t 1` server's, byte for byte. Returns them, and how many requests went by handoff.
fn as_one_shard_answers(make: impl Fn(&[String], &[String]) -> Vec<u8>) -> (String, u64) {
    let two = Server::start(&["-t", "2"]);
    let mut c = two.client();
    let far = remote_keys(&mut c, "far", 8);
    let home = corecached::server::router::shard_of(far[0].as_bytes(), 2) ^ 1;
    let near = keys_of(home, "near", 8);
    let req = make(&near, &far);
    let (got, handed) = counted_answers(&mut c, &near, &req);
    let one = Server::start(&["-t", "1"]);
    let (want, _) = counted_answers(&mut one.client(), &near, &req);
    assert_eq!(got, want);
    // The connection is its shard's again, for a read that needs no other shard.
    assert_eq!(c.line("version").split(' ').next(), Some("VERSION"));
    (want, handed)
}

#[test]
fn a_pipelined_read_is_answered_whole_by_the_owner_of_its_remote_requests() {
    // Each round starts with local answers, then goes on to the other shard's keys.
    let (want, handed) = as_one_shard_answers(mixed_pipeline);
    assert_eq!(want.matches("VALUE").count(), 8 * 4, "{want}");
    // Each request the other shard owns counts: at least 5 of the 11 in each round.
    assert!(handed >= 8 * 5, "only {handed} requests handed off");
}

#[test]
fn a_pipelined_meta_read_is_answered_whole_with_each_request_echoed() {
    // Keys, opaques and sizes echoed; quiet misses left out; `mn` after them.
    let (want, handed) = as_one_shard_answers(|near, far| {
        let mut req = Vec::new();
        for (i, (ka, kb)) in near.iter().zip(far).enumerate() {
            req.extend_from_slice(
                format!(
                    "mg {ka} v k f\r\nms {kb} 3 F{i}\r\nm{i:02}\r\nmg {kb} v k f O{i} s\r\n\
                     ma {kb}n q\r\nmd {kb}x q\r\nmg {kb}gone k v q\r\nma {ka} N0 v\r\nmn\r\n"
                )
                .as_bytes(),
            );
        }
        req
    });
    assert_eq!(want.matches("MN\r\n").count(), 8, "{want}");
    assert_eq!(want.matches(" O").count(), 8, "{want}");
    // At least the set and the get of each round's far key went by handoff.
    assert!(handed >= 8 * 2, "only {handed} requests handed off");
}

#[test]
fn an_owner_that_meets_a_full_socket_leaves_the_rest_of_the_read_to_its_shard() {
    let s = Server::start(&["-t", "2", "-m", "256"]);
    let mut c = s.client();
    let far = remote_keys(&mut c, "far", 24);
    let value = |i: usize| vec![b'a' + (i % 26) as u8; 500_000];
    for (i, k) in far.iter().enumerate() {
        assert_eq!(c.set(k, &value(i)), "STORED\r\n");
    }
    // 12 MB of answers, each followed by a local one, for a client that reads nothing
    // until it has asked for all of it: the owner writes its limit (or fills the socket),
    // stops, and the connection's own shard asks it for the rest and writes that. In the
    // text protocol, then in meta, whose answers echo their request's key.
    let text = |i: usize, k: &str| {
        let req = format!("get {k}\r\nincr nokey:{i} 1\r\n");
        (
            req,
            format!("VALUE {k} 0 500000\r\n"),
            "\r\nEND\r\nNOT_FOUND\r\n",
        )
    };
    let meta = |i: usize, k: &str| {
        (
            format!("mg {k} v k O{i} q\r\nmg {k}gone v q\r\nmn\r\n"),
            format!("VA 500000 k{k} O{i}\r\n"),
            "\r\nMN\r\n",
        )
    };
    for words in [
        &text as &dyn Fn(usize, &str) -> (String, String, &'static str),
        &meta,
    ] {
        let before = c.shards_stat("cross_shard_handoffs");
        let mut req = Vec::new();
        let mut want = Vec::new();
        for (i, k) in far.iter().enumerate() {
            let (ask, head, tail) = words(i, k);
            req.extend_from_slice(ask.as_bytes());
            want.extend_from_slice(head.as_bytes());
            want.extend_from_slice(&value(i));
            want.extend_from_slice(tail.as_bytes());
        }
        c.send(&req);
        std::thread::sleep(Duration::from_millis(300));
        let got = c.read_exact(want.len());
        assert!(got == want, "the answers differ");
        assert!(c.shards_stat("cross_shard_handoffs") - before >= 24);
    }
    assert_eq!(c.line("version").split(' ').next(), Some("VERSION"));
}

#[test]
fn a_stop_lets_a_whole_read_handed_off_finish() {
    let mut s = Server::start(&["-t", "2", "-m", "256", "-I", "16m"]);
    let mut slow = s.client();
    let far = remote_keys(&mut slow, "stopbig", 1).remove(0);
    let value = vec![b's'; 4 << 20];
    assert_eq!(slow.set(&far, &value), "STORED\r\n");
    // 8 MB the client does not read until after the stop: the owner writes its limit,
    // the connection's shard runs the rest, and the stop waits for all of it.
    let req = format!("get {far}\r\nincr none 1\r\nget {far}\r\n");
    let got = stop_before_reading(&s, &mut slow, req.as_bytes());
    let one = value_answer(&far, &value);
    let want = [&one[..], b"NOT_FOUND\r\n", &one[..]].concat();
    assert!(got == want, "{} bytes of {}", got.len(), want.len());
    assert!(s.terminate().is_some_and(|st| st.success()));
}

const BIN_GET: u8 = 0x00;
const BIN_GETK: u8 = 0x0c;
const BIN_NOOP: u8 = 0x0a;

/// A binary connection to `port` that waits up to 20 s for an answer.
fn bin_conn(port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c
}

/// `remote_keys` for the binary connection `b`, counted through `stats`'s connection.
fn bin_remote_keys(b: &mut TcpStream, stats: &mut common::Client, n: usize) -> Vec<String> {
    let probe = &keys_of(0, "probe", 1)[0];
    let on_one = |c: &mut common::Client| c.stats("shards")["shard:1:cross_shard_handoffs"].clone();
    let before = on_one(stats);
    bin_call(
        b,
        &bin_packet(BIN_GET, probe.as_bytes(), &[], &[], 0),
        BIN_GET,
    );
    let home = usize::from(on_one(stats) != before);
    keys_of(1 - home, "bfar", n)
}

/// A binary pipeline in one write over `near` and `far` keys, each round starting with a
/// local answer, then a noop: sets (one quiet), gets and getks that hit and miss, a quiet
/// miss, an incr that creates its counter, a delete of nothing.
fn binary_pipeline(near: &[String], far: &[String]) -> Vec<u8> {
    const SET: u8 = 0x01;
    const SETQ: u8 = 0x11;
    const GETKQ: u8 = 0x0d;
    const DELETE: u8 = 0x04;
    const INCR: u8 = 0x05;
    let mut req = Vec::new();
    for (i, (ka, kb)) in near.iter().zip(far).enumerate() {
        let (ka, kb, n) = (ka.as_bytes(), kb.as_bytes(), i as u32);
        let set_extras = [n.to_be_bytes(), 0u32.to_be_bytes()].concat();
        let incr_extras = [&5u64.to_be_bytes()[..], &7u64.to_be_bytes(), &[0; 4]].concat();
        let value = format!("b{i:02}");
        let (gone, counter) = ([kb, b"gone"].concat(), [kb, b"n"].concat());
        for p in [
            bin_packet(BIN_GET, ka, &[], &[], n),
            bin_packet(SET, kb, &set_extras, value.as_bytes(), n),
            bin_packet(BIN_GETK, kb, &[], &[], n),
            bin_packet(GETKQ, &gone, &[], &[], n),
            bin_packet(BIN_GETK, &gone, &[], &[], n),
            bin_packet(INCR, &counter, &incr_extras, &[], n),
            bin_packet(DELETE, &[kb, b"x"].concat(), &[], &[], n),
            bin_packet(SETQ, &[ka, b"q"].concat(), &set_extras, b"q", n),
            bin_packet(BIN_GET, kb, &[], &[], n),
        ] {
            req.extend_from_slice(&p);
        }
    }
    req.extend_from_slice(&bin_packet(BIN_NOOP, b"", &[], &[], 99));
    req
}

#[test]
fn a_pipelined_binary_read_is_answered_whole_by_the_owner_of_its_remote_requests() {
    let two = Server::start(&["-t", "2"]);
    let mut stats = two.client();
    let mut b = bin_conn(two.port);
    let far = bin_remote_keys(&mut b, &mut stats, 8);
    let home = corecached::server::router::shard_of(far[0].as_bytes(), 2) ^ 1;
    let near = keys_of(home, "bnear", 8);
    for (i, k) in near.iter().enumerate() {
        assert_eq!(stats.set(k, format!("{i}").as_bytes()), "STORED\r\n");
    }
    let req = binary_pipeline(&near, &far);
    let before = stats.shards_stat("cross_shard_handoffs");
    let got = bin_call(&mut b, &req, BIN_NOOP);
    let handed = stats.shards_stat("cross_shard_handoffs") - before;
    let one = Server::start(&["-t", "1"]);
    let mut c = one.client();
    for (i, k) in near.iter().enumerate() {
        assert_eq!(c.set(k, format!("{i}").as_bytes()), "STORED\r\n");
    }
    let want = bin_call(&mut bin_conn(one.port), &req, BIN_NOOP);
    assert_eq!(got, want);
    // Two hits and a miss of a getk per round, the noop last.
    assert_eq!(want.iter().filter(|a| a.starts_with("00 0 ")).count(), 16);
    assert_eq!(want.iter().filter(|a| a.starts_with("0c 1 ")).count(), 8);
    // Each request the other shard owns counts: at least the set, getk and get of each
    // round's far key.
    assert!(handed >= 8 * 3, "only {handed} requests handed off");
    // The connection is its shard's again.
    let again = bin_call(&mut b, &bin_packet(BIN_NOOP, b"", &[], &[], 7), BIN_NOOP);
    assert_eq!(again, ["0a 0 7 \"\"".to_string()]);
}

#[test]
fn a_binary_owner_at_its_write_limit_leaves_the_rest_of_the_read_to_its_shard() {
    let s = Server::start(&["-t", "2", "-m", "256"]);
    let mut stats = s.client();
    let mut b = bin_conn(s.port);
    let far = bin_remote_keys(&mut b, &mut stats, 24);
    let owner = corecached::server::router::shard_of(far[0].as_bytes(), 2);
    let missing = keys_of(owner, "bmiss", 24);
    let value = |i: usize| vec![b'a' + (i % 26) as u8; 500_000];
    for (i, k) in far.iter().enumerate() {
        assert_eq!(stats.set(k, &value(i)), "STORED\r\n");
    }
    // 12 MB of getk hits, sent before anything is read: the owner stops at its limit
    // (256 KB written, or a full socket) and the connection's shard runs the rest. After
    // each hit, a getk and a quiet getk that miss on the owner (the first repeats its key)
    // and a local noop.
    const GETKQ: u8 = 0x0d;
    let mut req = Vec::new();
    for (i, (k, gone)) in far.iter().zip(&missing).enumerate() {
        let n = i as u32;
        req.extend_from_slice(&bin_packet(BIN_GETK, k.as_bytes(), &[], &[], n));
        req.extend_from_slice(&bin_packet(BIN_GETK, gone.as_bytes(), &[], &[], n));
        req.extend_from_slice(&bin_packet(GETKQ, gone.as_bytes(), &[], &[], n));
        req.extend_from_slice(&bin_packet(BIN_NOOP, b"", &[], &[], n));
    }
    req.extend_from_slice(&bin_packet(BIN_GET, b"none", &[], &[], 99));
    let before = stats.shards_stat("cross_shard_handoffs");
    b.write_all(&req).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let got = bin_call(&mut b, b"", BIN_GET);
    assert_eq!(got.len(), 24 * 3 + 1);
    for (i, (k, gone)) in far.iter().zip(&missing).enumerate() {
        let body = [&[0u8; 4][..], k.as_bytes(), &value(i)].concat();
        let hit = format!("0c 0 {i} {:?}", String::from_utf8_lossy(&body));
        assert!(got[3 * i] == hit, "getk {i} differs");
        assert_eq!(got[3 * i + 1], format!("0c 1 {i} {gone:?}"));
        assert_eq!(got[3 * i + 2], format!("0a 0 {i} \"\""));
    }
    assert_eq!(got[72], "00 1 99 \"Not found\"");
    assert!(stats.shards_stat("cross_shard_handoffs") - before >= 24 * 3);
}
