//! Outside programs a test drives: the probe for a tool, a free loopback port, and Debian's
//! memcached to compare against. Standard library only, so loadgen's tests include this file
//! by path as well.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `cmd args` runs and succeeds: the probe for an outside tool a test drives. Under
/// CI (`.ci/run` installs the Debian packages `install`) a missing tool fails the test;
/// elsewhere the test prints a notice and skips.
pub fn tool_present(cmd: &str, args: &[&str], install: &str) -> bool {
    let ok = Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "{cmd} is required under CI (see .ci/run)"
        );
        eprintln!("skipping: {cmd} is not installed (apt-get install {install})");
    }
    ok
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some((m, port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("memcached did not start");
}
