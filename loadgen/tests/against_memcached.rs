//! Runs the built loadgen against Debian's memcached (when it is installed) and checks that
//! the run succeeds, verifies clean, and that its op count matches the server's own counters.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // Only the child this test started.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_memcached() -> Option<(Server, u16)> {
    if !on_path("memcached") {
        eprintln!("SKIP: memcached is not on PATH; loadgen integration test not run");
        return None;
    }
    // A port freed a moment ago can be taken by someone else: retry a few times.
    for _ in 0..5 {
        let port = free_port();
        let child = Command::new("memcached")
            .args([
                "-u",
                "root",
                "-p",
                &port.to_string(),
                "-l",
                "127.0.0.1",
                "-t",
                "1",
                "-m",
                "64",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn memcached");
        let mut server = Server(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = server.0.try_wait() {
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some((server, port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("could not start memcached");
}

fn server_ops(port: u16) -> u64 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"stats\r\nquit\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
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
        "--key-space",
        "5000",
        "--json-out",
        json.to_str().unwrap(),
        "--quiet",
    ];
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
    let out = loadgen(
        port,
        &[
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
    // After a prefill every get hits.
    assert_eq!(v["get"]["misses"].as_u64(), Some(0));
    for k in ["p50", "p90", "p99", "p999", "p9999", "max"] {
        assert!(v["latency_us"][k].as_f64().unwrap() > 0.0, "{k}");
    }
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
