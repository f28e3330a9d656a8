//! Outside programs a test drives: the probe for a tool, a free loopback port, and Debian's
//! memcached to compare against. Standard library only, so loadgen's tests include this file
//! by path as well.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `cmd args` runs and succeeds: the probe for an outside tool a test drives. Under
/// CI (`.ci/run` installs the Debian packages `install`) a missing tool fails the test;
/// elsewhere the test says `SKIPPED: <what is missing> not installed` and returns.
pub fn tool_present(cmd: &str, args: &[&str], install: &str) -> bool {
    if runs(cmd, args) {
        return true;
    }
    let missing = missing_part(cmd, args);
    assert!(
        std::env::var("CI").is_err(),
        "{missing} is required under CI (see .ci/run: {install})"
    );
    skipped(&format!("{missing} not installed ({install})"));
    false
}

/// Says a test skipped, straight to the test's stderr so it shows in `cargo test`'s output
/// (libtest captures `eprintln!` of a passing test and never shows it).
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

fn runs(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The exact thing a failed probe lacks: the program itself, the command `sh -c "command -v
/// X"` looked for, the first Python module of `-c "import a, b"` that does not import, or
/// the library of a Ruby `-e "require 'x'"`; not the interpreter that ran the probe.
fn missing_part(cmd: &str, args: &[&str]) -> String {
    if Command::new(cmd).arg("--version").output().is_err() {
        return cmd.to_string();
    }
    match args {
        ["-c", probe] if probe.starts_with("command -v ") => {
            probe["command -v ".len()..].trim().to_string()
        }
        ["-c", probe] if probe.starts_with("import ") => probe["import ".len()..]
            .split(',')
            .map(str::trim)
            .find(|m| !runs(cmd, &["-c", &format!("import {m}")]))
            .map_or_else(
                || probe.to_string(),
                |m| format!("Python module {m} (for {cmd})"),
            ),
        ["-e", probe] if probe.starts_with("require ") => {
            let lib = probe["require ".len()..].trim_matches(|c| c == '\'' || c == '"' || c == ' ');
            format!("Ruby library {lib}")
        }
        _ => format!("{cmd} {}", args.join(" ")),
    }
}

/// A port nothing listens on now and that this test process has not handed out before.
/// The kernel may offer a port again as soon as its probe closes, and the server binds
/// with SO_REUSEPORT, so two tests given the same port would both listen on it and share
/// its connections (one test's client was reset by another test's stopping server).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Whether the server behind `c` answers `version` as memcached does.
fn answers_version(mut c: TcpStream) -> bool {
    use std::io::{Read, Write};
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 64];
    c.write_all(b"version\r\n").is_ok()
        && matches!(c.read(&mut buf), Ok(n) if buf[..n].starts_with(b"VERSION "))
}

/// A memcached this test started; killed when dropped.
pub struct Memcached(Child);

impl Drop for Memcached {
    fn drop(&mut self) {
        // Only the child this test started.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts memcached (one thread, 64 MB, TCP only) on a free loopback port and waits until it
/// accepts; `None` when it is not installed (see `tool_present`).
pub fn start_memcached() -> Option<(Memcached, u16)> {
    if !tool_present("sh", &["-c", "command -v memcached"], "memcached") {
        return None;
    }
    // A port freed a moment ago can be taken by someone else: retry a few times.
    for _ in 0..5 {
        let port = free_port();
        let child = Command::new("memcached")
            .args([
                "-u",
                "root",
                "-t",
                "1",
                "-m",
                "64",
                "-U",
                "0",
                "-l",
                "127.0.0.1",
            ])
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn memcached");
        let mut m = Memcached(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = m.0.try_wait() {
                break;
            }
            if let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
                // Another test's listener may have taken the port before memcached bound it
                // (memcached then exits): only an answer to `version` is memcached's.
                if answers_version(c) {
                    return Some((m, port));
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("memcached did not start");
}
