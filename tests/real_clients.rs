//! Real memcached clients against the real binary: libmemcached's `memccapable` and
//! pymemcache's own integration suite. `.ci/run` installs both; outside CI a missing tool
//! skips its test with a notice, under CI=true it fails.

mod common;
use common::{Server, tool_present};
use std::process::Command;

/// The Debian packages `.ci/run` installs for these tests.
const CLIENTS: &str = "libmemcached-tools python3-pymemcache python3-pytest python3-mock";

#[test]
fn memccapable_ascii_passes() {
    if !tool_present("sh", &["-c", "command -v memccapable"], CLIENTS) {
        return;
    }
    for t in ["1", "4"] {
        let s = Server::start(&["-t", t]);
        let out = Command::new("memccapable")
            .args(["-a", "-h", "127.0.0.1", "-p", &s.port.to_string()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "memccapable -t {t}:\n{text}");
        assert!(text.contains("All tests passed"), "{text}");
        assert!(!text.contains("[FAIL]"), "{text}");
    }
}

#[test]
fn pymemcache_integration_suite_passes() {
    let probe = "import pymemcache.test, pytest, mock";
    if !tool_present("/usr/bin/python3", &["-c", probe], CLIENTS) {
        return;
    }
    let dir = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import os, pymemcache.test as t; print(os.path.dirname(t.__file__))",
        ])
        .output()
        .unwrap();
    let dir = String::from_utf8(dir.stdout).unwrap().trim().to_string();
    for t in ["1", "4"] {
        // Each of pymemcache's tests opens a new connection and starts with `flush_all`,
        // while the test before may have ended with a `noreply` write (or flush) nobody
        // waited for. Which connection the server reads first is then a race: memcached's
        // single acceptor usually reads the old one first; corecached's shards accept on
        // their own and, in 3-5 % of suite runs here, read the new one first, so its `set`
        // is flushed by the old connection's late `flush_all`. A second run decides.
        let mut text = run_pymemcache(&dir, t);
        if !suite_passed(&text) {
            eprintln!("pymemcache -t {t}: first run failed, running again:\n{text}");
            text = run_pymemcache(&dir, t);
        }
        assert!(suite_passed(&text), "pymemcache -t {t}:\n{text}");
        let summary = summary_line(&text);
        let passed: u32 = summary
            .trim_matches(|c: char| !c.is_ascii_digit())
            .split(' ')
            .next()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        assert!(passed >= 40, "too few pymemcache tests ran: {summary}");
    }
}

/// pytest's closing line ("45 passed, 492 deselected in 0.7s"), or "".
fn summary_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| l.contains(" passed"))
        .unwrap_or("")
}

/// Whether pytest's output reports a run with no failure or error.
fn suite_passed(text: &str) -> bool {
    let summary = summary_line(text);
    !summary.is_empty() && !summary.contains("failed") && !summary.contains("error")
}

/// pymemcache's integration tests against a fresh server with `-t shards`; pytest's output.
fn run_pymemcache(dir: &str, shards: &str) -> String {
    let s = Server::start(&["-t", shards]);
    // TLS cases need a TLS listener (not offered) and certificates Debian does not ship.
    let out = Command::new("/usr/bin/python3")
        .args([
            "-m",
            "pytest",
            dir,
            "-m",
            "integration",
            "-k",
            "not tls",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore",
        ])
        .args(["--server", "127.0.0.1", "--port", &s.port.to_string()])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
