//! A twemproxy (`nutcracker`) process the test starts in front of corecached nodes: its own
//! config in a temp directory, listen and stats ports on 127.0.0.1, killed by pid on drop.

use serde_json::Value;
use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::free_port;

/// One pool of the config: every pool ejects a failed server after one failure, and maps
/// keys with ketama over md5. twemproxy's own example hash, fnv1a_64, keeps only the low 32
/// bits, which barely move when keys differ in their last bytes: 100 keys `key:0..key:99`
/// all landed on one of three servers here.
pub struct Pool {
    pub name: &'static str,
    pub retry_ms: u32,
    /// (corecached client port, server name); ketama hashes the name, not the address, so a
    /// pool can point a name at another node and keep every key where it was.
    pub servers: Vec<(u16, String)>,
}

pub struct Nutcracker {
    child: Child,
    dir: PathBuf,
    stats_port: u16,
    /// The listen port of each pool, in the order given.
    pub ports: Vec<u16>,
}

impl Nutcracker {
    /// Starts nutcracker with `pools`, on free ports (new ones if a port was taken meanwhile).
    pub fn start(pools: &[Pool]) -> Nutcracker {
        let mut last = String::new();
        for attempt in 0..5 {
            match Self::try_start(pools, attempt) {
                Ok(n) => return n,
                Err(e) => last = e,
            }
        }
        panic!("nutcracker did not start: {last}");
    }

    fn try_start(pools: &[Pool], attempt: u32) -> Result<Nutcracker, String> {
        let dir = std::env::temp_dir().join(format!(
            "corecached-twemproxy-{}-{}-{attempt}",
            std::process::id(),
            pools[0].name
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let ports: Vec<u16> = pools.iter().map(|_| free_port()).collect();
        let conf = dir.join("nutcracker.yml");
        std::fs::write(&conf, config(pools, &ports)).map_err(|e| e.to_string())?;
        let stats_port = free_port();
        // The stats address defaults to 0.0.0.0: keep it on loopback like everything else.
        let child = Command::new("nutcracker")
            .arg("-c")
            .arg(&conf)
            .args([
                "-s",
                &stats_port.to_string(),
                "-a",
                "127.0.0.1",
                "-i",
                "100",
            ])
            .arg("-o")
            .arg(dir.join("nutcracker.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn nutcracker: {e}"))?;
        let mut n = Nutcracker {
            child,
            dir,
            stats_port,
            ports,
        };
        let mut wanted = n.ports.clone();
        wanted.push(stats_port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = n.child.try_wait() {
                return Err(format!("exited early ({status}); a port was taken?"));
            }
            if wanted
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("timed out waiting for its ports".into())
    }

    /// The stats port's JSON: per pool, per server name, counters such as
    /// `server_ejected_at` (µs since the epoch, 0 while the server is in the ring).
    pub fn stats(&self) -> Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.stats_port)).expect("stats port");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read stats");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("stats JSON: {e}: {text}"))
    }

    /// A per-server counter of `pool`.
    pub fn server_stat(&self, pool: &str, server: &str, name: &str) -> u64 {
        let v = self.stats();
        v[pool][server][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no {pool}.{server}.{name} in {v}"))
    }

    /// Waits (bounded) until `pool` reports `server` ejected; stats are aggregated every
    /// 100 ms (`-i 100`).
    pub fn wait_ejected(&self, pool: &str, server: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.server_stat(pool, server, "server_ejected_at") > 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Nutcracker {
    fn drop(&mut self) {
        // Only the child this test started, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(pools: &[Pool], ports: &[u16]) -> String {
    let mut c = String::new();
    for (pool, port) in pools.iter().zip(ports) {
        c += &format!(
            "{}:\n  listen: 127.0.0.1:{port}\n  hash: md5\n  distribution: ketama\n  \
             auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: {}\n  \
             timeout: 2000\n  servers:\n",
            pool.name, pool.retry_ms
        );
        for (p, name) in &pool.servers {
            c += &format!("   - 127.0.0.1:{p}:1 {name}\n");
        }
    }
    c
}
