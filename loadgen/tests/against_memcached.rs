//! Runs the built loadgen against Debian's memcached (when it is installed) and checks that
//! the run succeeds, verifies clean, and that its op count matches the server's own counters.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../../tests/common/outside.rs"]
mod outside;
use outside::{free_port, start_memcached};

fn server_ops(port: u16) -> u64 {
    // Reads to `END` and hangs up itself: with `quit` in the same write, the server's close
    // could race the reply out (a reset before the reply was read, seen once in CI).
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"stats\r\n").unwrap();
    let mut out = String::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with("END\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed before END: {out}");
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some("STAT"), Some("cmd_get" | "cmd_set"), Some(v)) => v.parse::<u64>().ok(),
                _ => None,
            }
        })
        .sum()
}

fn loadgen(port: u16, extra: &[&str], json: &std::path::Path) -> std::process::Output {
    let server = format!("127.0.0.1:{port}");
    let mut args = vec![
        "-s",
        &server,
        "-t",
        "2",
        "-c",
        "4",
        "--json-out",
        json.to_str().unwrap(),
        "--quiet",
    ];
    if !extra.contains(&"--key-space") {
        args.extend_from_slice(&["--key-space", "5000"]);
    }
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(&args)
        .output()
        .expect("run loadgen")
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("loadgen-test-{}-{name}", std::process::id()))
}

#[test]
fn verified_run_matches_server_counters() {
    let Some((_server, port)) = start_memcached() else {
        return;
    };
    let before = server_ops(port);
    let json = tmp("run.json");
    let hlog = tmp("run.hlog");
    let svg = tmp("run.svg");
    let out = loadgen(
        port,
        &[
            "--hdr-out",
            hlog.to_str().unwrap(),
            "--plot",
            svg.to_str().unwrap(),
            "--test-time",
            "2",
            "--verify",
            "--prefill",
            "--pipeline",
            "4",
            "--multiget",
            "3",
            "--data-size-range",
            "10-400",
        ],
        &json,
    );
    assert!(
        out.status.success(),
        "loadgen failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let after = server_ops(port);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    assert!(v["ops_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(v["verify_mismatches"].as_u64(), Some(0));
    assert_eq!(v["prefill_ops"].as_u64(), Some(5000));
    let ours = v["ops"].as_u64().unwrap()
        + v["prefill_ops"].as_u64().unwrap()
        + v["warmup_ops"].as_u64().unwrap();
    let theirs = after - before;
    // Every request sent is drained before exit, so the counts agree exactly; leave a
    // little slack for anything else talking to the server.
    assert!(
        theirs >= ours && theirs - ours <= 16,
        "server counted {theirs}, loadgen {ours}"
    );
    check_hdr_log(&hlog);
    let plot = std::fs::read_to_string(&svg).unwrap();
    let _ = std::fs::remove_file(&svg);
    assert!(plot.starts_with("<svg") && plot.contains("<polyline"));
    // After a prefill every get hits.
    assert_eq!(v["get"]["misses"].as_u64(), Some(0));
    for k in ["p50", "p90", "p99", "p999", "p9999", "max"] {
        assert!(v["latency_us"][k].as_f64().unwrap() > 0.0, "{k}");
    }
}

/// `--protocol meta` and `--protocol binary` verify clean against memcached, single gets
/// and multi-gets, hits and (without a prefill) quiet misses alike, and memcached counts
/// exactly the gets and sets loadgen says it sent.
#[test]
fn meta_and_binary_verify_clean() {
    let Some((_server, port)) = start_memcached() else {
        return;
    };
    for (i, (protocol, multiget, prefill)) in [
        ("meta", "1", true),
        ("meta", "4", false),
        ("binary", "1", true),
        ("binary", "1", false),
        ("binary", "4", true),
        ("binary", "4", false),
    ]
    .into_iter()
    .enumerate()
    {
        let json = tmp(&format!("proto-{i}.json"));
        let before = server_ops(port);
        let mut args = vec!["--protocol", protocol, "--multiget", multiget];
        args.extend_from_slice(&[
            "--ratio",
            "1:3",
            "--pipeline",
            "4",
            "--verify",
            "-n",
            "4000",
        ]);
        args.extend_from_slice(&["--key-space", "3000", "--data-size-range", "1-3000"]);
        if prefill {
            args.push("--prefill");
        }
        let out = loadgen(port, &args, &json);
        assert!(
            out.status.success(),
            "{protocol} multiget {multiget}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let _ = std::fs::remove_file(&json);
        let what = format!("{protocol} multiget {multiget} prefill {prefill}: {v}");
        assert_eq!(v["verify_mismatches"].as_u64(), Some(0), "{what}");
        assert_eq!(v["errors"].as_u64(), Some(0), "{what}");
        let ours = v["ops"].as_u64().unwrap() + v["prefill_ops"].as_u64().unwrap();
        assert_eq!(server_ops(port) - before, ours, "{what}");
        if prefill {
            assert_eq!(v["get"]["misses"].as_u64(), Some(0), "{what}");
        }
    }
}

/// The interval log must be readable by HdrHistogram's own tools: parse it back.
fn check_hdr_log(path: &std::path::Path) {
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let text = std::fs::read(path).unwrap();
    let _ = std::fs::remove_file(path);
    let mut histograms = 0;
    let mut total = 0;
    for entry in IntervalLogIterator::new(&text) {
        if let LogEntry::Interval(h) = entry.expect("well-formed log") {
            let bytes = base64_decode(h.encoded_histogram());
            let hist: hdrhistogram::Histogram<u64> =
                Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
            total += hist.len();
            histograms += 1;
        }
    }
    assert!(histograms >= 2, "{histograms} intervals");
    assert!(total > 0);
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s.as_bytes().iter().filter(|&&c| c != b'=') {
        acc = (acc << 6) | val(c) as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn request_count_and_open_loop() {
    let Some((_server, port)) = start_memcached() else {
        return;
    };
    let json = tmp("rate.json");
    let before = server_ops(port);
    let out = loadgen(port, &["-n", "3001", "--rate", "3000"], &json);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    assert_eq!(v["requests"].as_u64(), Some(3001));
    assert_eq!(server_ops(port) - before, 3001);
    assert_eq!(v["open_loop"], serde_json::json!(true));
    assert!(v["uncorrected_latency_us"]["p99"].as_f64().unwrap() > 0.0);
    // About a second at 3000/s.
    let secs = v["duration_secs"].as_f64().unwrap();
    assert!((0.8..2.5).contains(&secs), "{secs}");
}

#[test]
fn dead_server_is_named_and_fails() {
    let port = free_port();
    let json = tmp("dead.json");
    let out = loadgen(port, &["--test-time", "1"], &json);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn wrong_value_fails_verification() {
    let Some((_server, port)) = start_memcached() else {
        return;
    };
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"set key:0 0 0 5\r\nWRONG\r\n").unwrap();
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"STORED\r\n");
    let json = tmp("mismatch.json");
    let out = loadgen(
        port,
        &["--key-space", "1", "--ratio", "0:1", "--verify", "-n", "10"],
        &json,
    );
    let _ = std::fs::remove_file(&json);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("WRONG"));
}

#[test]
fn garbage_reply_is_a_protocol_error() {
    // A fake server that answers anything with a line no memcached would send.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(8) {
            let Ok(mut c) = conn else { break };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || c.write_all(b"HELLO THERE\r\n").is_err() {
                        break;
                    }
                }
            });
        }
    });
    let json = tmp("garbage.json");
    let out = loadgen(port, &["-n", "100"], &json);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("protocol error") && err.contains("HELLO THERE"),
        "{err}"
    );
}

#[test]
fn server_hanging_up_is_reported_at_once() {
    // A fake server that reads one request, then closes without answering.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(8) {
            let Ok(mut c) = conn else { break };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
            });
        }
    });
    let json = tmp("hangup.json");
    let t = Instant::now();
    let out = loadgen(port, &["--test-time", "5"], &json);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("closed the connection") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "took {:?}",
        t.elapsed()
    );
}

/// Bad flags exit 64, apart from every outcome of a run (2 is a `--verify` failure).
#[test]
fn bad_flags_exit_64() {
    for args in [
        &["--no-such-flag"][..],
        &["--pipeline", "x"],
        &["--pipeline", "0"],
        &["--ratio", "0:0"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}
