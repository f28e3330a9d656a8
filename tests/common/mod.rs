//! Test harness: starts the real `corecached` binary on a free loopback port and talks to
//! it over TCP like any client would.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod echo;
pub mod logged;
mod outside;
pub mod wake_cycles;
// Each test crate takes what it needs from here.
#[allow(unused_imports)]
pub use outside::{Memcached, free_port, skipped, start_memcached, tool_present};

pub const BIN: &str = env!("CARGO_BIN_EXE_corecached");

pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    /// Starts corecached with `args` (plus -p and -l) and waits until it accepts.
    pub fn start(args: &[&str]) -> Server {
        Self::try_start(args).expect("server did not start")
    }

    /// Parallel tests can be handed the same free port; a start that finds another test's
    /// server there (or loses the bind) retries on a new port.
    pub fn try_start(args: &[&str]) -> Result<Server, String> {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start_on(free_port(), args) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Starts on a given client port (to restart a node where it was).
    pub fn start_on(port: u16, args: &[&str]) -> Server {
        Self::try_start_on(port, args).expect("server did not start")
    }

    pub fn try_start_on(port: u16, args: &[&str]) -> Result<Server, String> {
        let mut child = Command::new(BIN)
            .args(["-p", &port.to_string(), "-l", "127.0.0.1"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited early: {status}"));
            }
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
                let server = Server { child, port };
                // Another test's server can share the port (both probed it free at once and
                // then bound it with SO_REUSEPORT); its answer, or a reset when it exits,
                // means: try another port.
                return match served_by(stream, args) {
                    Some(pid) if pid == server.child.id().to_string() || pid == "<sasl>" => {
                        Ok(server)
                    }
                    Some(_) => Err(format!("port {port} is served by another process")),
                    None => Err(format!("port {port}: connection reset while checking")),
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        Err("timed out waiting for the port".into())
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.signal_and_wait(libc::SIGTERM)
    }

    /// Sends `sig`, then waits (bounded) for the exit status.
    pub fn signal_and_wait(&mut self, sig: libc::c_int) -> Option<std::process::ExitStatus> {
        // SAFETY: signalling our own child process by its pid.
        unsafe { libc::kill(self.pid(), sig) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The pid a server on `stream` reports in `stats`; `None` if the exchange fails.
fn served_by(mut stream: TcpStream, args: &[&str]) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let binary_only = args.windows(2).any(|w| w == ["-B", "binary"]);
    if args.contains(&"-S") {
        // Only version answers before SASL authentication: trust the answer.
        return binary_version(&mut stream).then(|| "<sasl>".to_string());
    }
    if binary_only || args.contains(&"-Y") {
        return binary_pid(&mut stream);
    }
    stream.write_all(b"stats\r\n").ok()?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(b"END\r\n") {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&got)
        .lines()
        .find_map(|l| l.strip_prefix("STAT pid "))
        .map(str::to_string)
}

/// A binary request header with no key, extras or body.
fn binary_header(opcode: u8) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0] = 0x80;
    h[1] = opcode;
    h
}

fn binary_version(stream: &mut TcpStream) -> bool {
    let mut resp = [0u8; 24];
    stream.write_all(&binary_header(0x0b)).is_ok()
        && stream.read_exact(&mut resp).is_ok()
        && resp[0] == 0x81
}

/// The pid from a binary `stat`: packets of name (key) and value until an empty one.
fn binary_pid(stream: &mut TcpStream) -> Option<String> {
    stream.write_all(&binary_header(0x10)).ok()?;
    let mut pid = None;
    loop {
        let mut h = [0u8; 24];
        stream.read_exact(&mut h).ok()?;
        let keylen = u16::from_be_bytes([h[2], h[3]]) as usize;
        let body = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
        let mut b = vec![0u8; body];
        stream.read_exact(&mut b).ok()?;
        if body == 0 {
            return pid;
        }
        if &b[..keylen] == b"pid" {
            pid = Some(String::from_utf8_lossy(&b[keylen..]).into_owned());
        }
    }
}

pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        Self::from_stream(TcpStream::connect(("127.0.0.1", port)).expect("connect"))
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads until the received bytes end with `end`; returns them.
    pub fn read_until(&mut self, end: &[u8]) -> Vec<u8> {
        let mut chunk = [0u8; 65536];
        while !self.buf.ends_with(end) {
            let n = self.stream.read(&mut chunk).expect("read (timed out?)");
            assert!(
                n > 0,
                "connection closed; got so far: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
        std::mem::take(&mut self.buf)
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut chunk = [0u8; 65536];
        while self.buf.len() < n {
            let got = self.stream.read(&mut chunk).expect("read");
            assert!(got > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..got]);
        }
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Sends `req` and reads one reply ending in `end`, as a string.
    pub fn call(&mut self, req: &[u8], end: &str) -> String {
        self.send(req);
        String::from_utf8_lossy(&self.read_until(end.as_bytes())).into_owned()
    }

    /// Sends a one-line command and returns the single-line reply.
    pub fn line(&mut self, req: &str) -> String {
        self.call(format!("{req}\r\n").as_bytes(), "\r\n")
    }

    pub fn set(&mut self, key: &str, value: &[u8]) -> String {
        let mut req = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
        self.call(&req, "\r\n")
    }

    pub fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.send(format!("get {key}\r\n").as_bytes());
        let resp = self.read_until(b"END\r\n");
        if resp == b"END\r\n" {
            return None;
        }
        let header_end = resp.windows(2).position(|w| w == b"\r\n").unwrap();
        let header = String::from_utf8_lossy(&resp[..header_end]).into_owned();
        let len: usize = header.rsplit(' ').next().unwrap().parse().unwrap();
        Some(resp[header_end + 2..header_end + 2 + len].to_vec())
    }

    pub fn stats(&mut self, sub: &str) -> HashMap<String, String> {
        let cmd = if sub.is_empty() {
            "stats\r\n".to_string()
        } else {
            format!("stats {sub}\r\n")
        };
        let resp = self.call(cmd.as_bytes(), "END\r\n");
        resp.lines()
            .filter_map(|l| l.strip_prefix("STAT "))
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn stat(&mut self, name: &str) -> u64 {
        self.stats("")[name].parse().unwrap()
    }

    /// A per-shard counter of `stats shards`, summed over the shards.
    pub fn shards_stat(&mut self, name: &str) -> u64 {
        let suffix = format!(":{name}");
        (self.stats("shards").iter())
            .filter(|(k, _)| k.ends_with(&suffix))
            .map(|(_, v)| v.parse::<u64>().unwrap())
            .sum()
    }

    /// True if the server closed the connection (read returns 0) within a few seconds.
    pub fn is_closed(&mut self) -> bool {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut b = [0u8; 256];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// Shard counts every behaviour test runs under: one shard, and more shards than cores
/// so that most keys cross the channel mesh.
pub const SHARD_COUNTS: [&str; 2] = ["1", "4"];

pub fn each_shard_count(extra: &[&str], f: impl Fn(&Server)) {
    for t in SHARD_COUNTS {
        let mut args = vec!["-t", t];
        args.extend_from_slice(extra);
        let server = Server::start(&args);
        f(&server);
    }
}

/// xorshift64*: deterministic per seed, so a failing random stream names a sequence that
/// can be replayed (the differential, meta and binary tests draw their streams from it).
pub struct Rng(pub u64);

impl Rng {
    /// A generator for `seed`, spread so that neighbouring seeds start far apart.
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// Polls `f` every 50 ms until it returns true or `secs` pass; false if it never did.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// Runs the server binary with `args` to its exit: (exit status, stderr then stdout).
pub fn run_with(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.code().unwrap_or(-1), text)
}
