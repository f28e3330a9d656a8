//! The operator's stop: `shutdown graceful` (with -A) and SIGUSR1 as memcached 1.6.18 has
//! them, the configurable drain time, one log line per phase, and a stopping twin that
//! waits for its last writes to be acknowledged.

mod common;
use common::logged::LoggedServer;
use common::{Client, free_port, tool_present};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a client gets for `req`: the reply line, or "" when the server closes the
/// connection without a byte (memcached's answer to a shutdown it accepts).
fn answer(port: u16, req: &str) -> String {
    let mut c = Client::connect(port);
    c.send(req.as_bytes());
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    while !got.ends_with(b"\r\n") {
        match c.stream.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

const REFUSED: [(&str, &str); 2] = [
    ("shutdown foo\r\n", "CLIENT_ERROR invalid shutdown mode\r\n"),
    (
        "shutdown graceful now\r\n",
        "CLIENT_ERROR invalid shutdown mode\r\n",
    ),
];

/// The phase lines of a stop, in order.
fn assert_phases(log: &str, cause: &str) {
    let want = [
        format!("{cause}: stopping; new connections are closed at once"),
        "draining ".to_string(),
        "drained: every request in flight finished".to_string(),
        "exit status 0".to_string(),
    ];
    let mut at = 0;
    for w in &want {
        let found = log[at..].find(w.as_str());
        at += found.unwrap_or_else(|| panic!("no {w:?} after byte {at} in:\n{log}")) + w.len();
    }
}

#[test]
fn shutdown_graceful_with_a_flag_closes_and_exits_zero() {
    let mut s = LoggedServer::start(&["-A", "-t", "2"]);
    for (req, want) in REFUSED {
        assert_eq!(answer(s.port, req), want, "{req:?}");
    }
    assert_eq!(answer(s.port, "shutdown graceful\r\n"), "");
    let status = s
        .wait_exit()
        .expect("still running after shutdown graceful");
    assert_eq!(status.code(), Some(0));
    assert_phases(&s.text(), "shutdown graceful command");
}

#[test]
fn shutdown_without_the_flag_is_refused_as_memcached_refuses_it() {
    let mut s = LoggedServer::start(&["-t", "1"]);
    for req in ["shutdown\r\n", "shutdown graceful\r\n"] {
        assert_eq!(answer(s.port, req), "ERROR: shutdown not enabled\r\n");
    }
    assert!(s.child.try_wait().unwrap().is_none(), "it stopped");
}

/// The same bytes to Debian's memcached 1.6.18 with -A: the same answers and exit status.
#[test]
fn shutdown_answers_match_memcached() {
    if !tool_present("sh", &["-c", "command -v memcached"], "memcached") {
        return;
    }
    let port = free_port();
    let mut mc = Command::new("memcached")
        .args(["-u", "root", "-A", "-t", "1", "-U", "0", "-l", "127.0.0.1"])
        .args(["-p", &port.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "memcached did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    for (req, want) in REFUSED {
        assert_eq!(answer(port, req), want, "memcached, {req:?}");
    }
    assert_eq!(answer(port, "shutdown graceful\r\n"), "");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = mc.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = mc.kill();
            panic!("memcached still running after shutdown graceful");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigusr1_stops_gracefully_with_each_phase_logged() {
    let mut s = LoggedServer::start(&["-t", "2", "--drain-timeout", "7"]);
    let mut c = Client::connect(s.port);
    assert_eq!(c.set("k", b"v"), "STORED\r\n");
    s.signal(libc::SIGUSR1);
    let status = s.wait_exit().expect("still running after SIGUSR1");
    assert_eq!(status.code(), Some(0));
    let log = s.text();
    assert_phases(&log, "SIGUSR1 (graceful stop)");
    assert!(log.contains("requests in flight get up to 7 s"), "{log}");
    assert!(
        !log.contains('\x1b'),
        "colour escapes in a log file:\n{log}"
    );
}

/// A node stopped right after its clients' writes waits for the twin to acknowledge them:
/// the twin has every key, and the stop says the replication was flushed.
#[test]
fn a_stopping_twin_flushes_its_last_writes() {
    let (xa, xb) = (free_port(), free_port());
    let twin = |own: u16, other: u16| {
        vec![
            "-t".to_string(),
            "1".into(),
            "-X".into(),
            own.to_string(),
            "-x".into(),
            format!("127.0.0.1:{other}"),
        ]
    };
    let (mut args_a, args_b) = (twin(xa, xb), twin(xb, xa));
    // Room for a loaded host: the stop ends as soon as the twin has acknowledged.
    args_a.extend(["--drain-timeout".to_string(), "30".into()]);
    let mut a = LoggedServer::start(&args_a.iter().map(String::as_str).collect::<Vec<_>>());
    let b = LoggedServer::start(&args_b.iter().map(String::as_str).collect::<Vec<_>>());
    let (mut ca, mut cb) = (Client::connect(a.port), Client::connect(b.port));
    // The link streams once a first write crosses it.
    let deadline = Instant::now() + Duration::from_secs(20);
    ca.set("probe", b"1");
    while cb.get("probe").is_none() {
        assert!(Instant::now() < deadline, "the twins never linked");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Enough that the stop comes while the link is still sending them.
    const KEYS: usize = 20_000;
    let value = |i: usize| format!("{i:0>1000}");
    let mut batch = Vec::new();
    for i in 0..KEYS {
        batch.extend_from_slice(format!("set key{i} 0 0 1000\r\n{}\r\n", value(i)).as_bytes());
    }
    ca.send(&batch);
    let replies = ca.read_exact(KEYS * 8);
    assert!(replies == b"STORED\r\n".repeat(KEYS), "not all stored");
    a.signal(libc::SIGTERM);
    assert_eq!(a.wait_exit().and_then(|s| s.code()), Some(0));
    let log = a.text();
    assert!(
        log.contains("replication flushed: the twin acknowledged every write"),
        "{log}"
    );
    let missing = (0..KEYS)
        .filter(|i| cb.get(&format!("key{i}")).as_deref() != Some(value(*i).as_bytes()))
        .count();
    assert_eq!(missing, 0, "keys the twin lacks after the stop");
}

/// With the twin away the stop does not wait for it, and says what it leaves behind.
#[test]
fn a_stop_says_which_writes_the_twin_never_acknowledged() {
    let x = free_port();
    let nobody = free_port();
    let mut a = LoggedServer::start(&[
        "-t",
        "1",
        "-X",
        &x.to_string(),
        "-x",
        &format!("127.0.0.1:{nobody}"),
    ]);
    let mut c = Client::connect(a.port);
    for k in ["a", "b", "c"] {
        assert_eq!(c.set(k, b"v"), "STORED\r\n");
    }
    a.signal(libc::SIGTERM);
    assert_eq!(a.wait_exit().and_then(|s| s.code()), Some(0));
    let log = a.text();
    assert!(
        log.contains("replication not flushed: the twin has not acknowledged 3 write(s)"),
        "{log}"
    );
}
