//! Where client connections are served, and how shard threads are scheduled: connections
//! are dealt to the shards with the fewest (over TCP, whichever shard's listener the kernel
//! picked, and over the unix socket, which only shard 0 accepts), and shards that outnumber
//! their CPUs run SCHED_BATCH (`--shard-sched`).

mod common;
use common::{BIN, Client, Server, eventually};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `stats shards`' curr_connections of each shard, in shard order.
fn per_shard(stats: &mut Client) -> Vec<u64> {
    let s = stats.stats("shards");
    (0..)
        .map_while(|i| s.get(&format!("shard:{i}:curr_connections")))
        .map(|v| v.parse().unwrap())
        .collect()
}

/// Waits for the shards' counts to satisfy `done`; returns the last reading.
fn settles(stats: &mut Client, done: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    let mut last = Vec::new();
    eventually(10, || {
        last = per_shard(stats);
        done(&last)
    });
    last
}

/// Waits until `stats` is the only client connection left.
fn only_this_one(stats: &mut Client) {
    let now = settles(stats, |now| now.iter().sum::<u64>() == 1);
    assert_eq!(now.iter().sum::<u64>(), 1, "{now:?}");
}

fn settles_at(stats: &mut Client, want: &[u64]) -> Vec<u64> {
    settles(stats, |now| now == want)
}

#[test]
fn tcp_connections_are_dealt_evenly_and_again_after_some_close() {
    let s = Server::start(&["-t", "4"]);
    let mut stats = s.client();
    // `Server::start`'s probe connection may not have ended yet: it would count.
    only_this_one(&mut stats);
    // Twelve in all with the stats connection: the kernel's hash alone puts three on each
    // of four shards about 2 % of the time.
    let mut conns: Vec<TcpStream> = (0..11)
        .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    assert_eq!(settles_at(&mut stats, &[3, 3, 3, 3]), [3, 3, 3, 3]);

    conns.clear();
    // Only the stats connection is left.
    let left = settles(&mut stats, |now| now.iter().sum::<u64>() == 1);
    assert_eq!(left.iter().sum::<u64>(), 1, "{left:?}");
    // The three shards with none get the next three.
    let _more: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    assert_eq!(settles_at(&mut stats, &[1, 1, 1, 1]), [1, 1, 1, 1]);

    // A connection moved to another shard is served there like any other.
    let mut c = s.client();
    for i in 0..8 {
        assert_eq!(c.set(&format!("k{i}"), b"v"), "STORED\r\n");
        assert_eq!(c.get(&format!("k{i}")).as_deref(), Some(&b"v"[..]));
    }
}

/// The connection ids `stats conns` lists (not the listeners'), in its order.
fn listed(c: &mut Client) -> Vec<u64> {
    let text = c.call(b"stats conns\r\n", "END\r\n");
    text.lines()
        .filter(|l| l.ends_with("conn_parse_cmd") || l.ends_with("conn_nread"))
        .map(|l| l["STAT ".len()..l.find(':').unwrap()].parse().unwrap())
        .collect()
}

#[test]
fn stats_conns_lists_connections_in_the_order_they_opened_over_all_shards() {
    let s = Server::start(&["-t", "2"]);
    let mut conns: Vec<Client> = Vec::new();
    let mut ids = Vec::new();
    for i in 0..4 {
        let mut c = s.client();
        if i == 0 {
            // `Server::start`'s probe connection may not have ended yet.
            only_this_one(&mut c);
        }
        // The one id this connection adds is its own.
        let now = listed(&mut c);
        let new: Vec<u64> = now.iter().copied().filter(|i| !ids.contains(i)).collect();
        assert_eq!(new.len(), 1, "{now:?} after {ids:?}");
        ids.push(new[0]);
        conns.push(c);
    }
    // Spread over both shards (an id's low bits are its shard), and listed as they opened,
    // the newest last: clients (memcached's t/watcher_connid.t) take the last as their own.
    assert!(ids.iter().any(|i| i & 1023 != ids[0] & 1023), "{ids:?}");
    assert_eq!(listed(&mut conns[3]), ids);
}

#[test]
fn unix_socket_connections_are_dealt_to_every_shard() {
    let path = std::env::temp_dir().join(format!("corecached-spread-{}.sock", std::process::id()));
    let _server = Stopped(
        Command::new(BIN)
            .args(["-t", "2", "-s", path.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let connect = || loop {
        if let Ok(s) = UnixStream::connect(&path) {
            return s;
        }
        assert!(Instant::now() < deadline, "no unix socket at {path:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let first = connect();
    let _others: Vec<UnixStream> = (0..3).map(|_| connect()).collect();
    let mut w = first.try_clone().unwrap();
    let mut r = BufReader::new(first);
    let mut counts = String::new();
    eventually(10, || {
        w.write_all(b"stats shards\r\n").unwrap();
        counts.clear();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "END\r\n" || line.is_empty() {
                break;
            }
            if line.contains(":curr_connections ") {
                counts.push_str(line.trim_end());
                counts.push(' ');
            }
        }
        counts.trim_end() == "STAT shard:0:curr_connections 2 STAT shard:1:curr_connections 2"
    });
    assert_eq!(
        counts.trim_end(),
        "STAT shard:0:curr_connections 2 STAT shard:1:curr_connections 2"
    );
}

/// A server stopped (SIGTERM, then waited for) however the test ends.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: our own child, not yet waited for.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// Starts a server that may run on one CPU only (it inherits this thread's affinity).
fn on_one_cpu(args: &[&str]) -> Server {
    // SAFETY: plain structs for this thread's own affinity.
    unsafe {
        let mut was: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(libc::sched_getaffinity(0, size_of_val(&was), &mut was), 0);
        let cpu = (0..libc::CPU_SETSIZE as usize)
            .find(|&c| libc::CPU_ISSET(c, &was))
            .unwrap();
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        assert_eq!(libc::sched_setaffinity(0, size_of_val(&one), &one), 0);
        let s = Server::start(args);
        assert_eq!(libc::sched_setaffinity(0, size_of_val(&was), &was), 0);
        s
    }
}

/// The scheduling policy (field 41 of /proc/PID/task/TID/stat) of each shard's threads:
/// its executor's, and its helper's (glommio's thread for blocking calls, named alike and
/// started before the executor sets its policy).
fn shard_policies(pid: i32) -> Vec<u32> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = t.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("shard-") {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Fields after the command name, which is in brackets: state is field 3.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        out.push(rest.split(' ').nth(41 - 3).unwrap().parse().unwrap());
    }
    out
}

#[test]
fn shards_that_share_a_cpu_run_sched_batch() {
    for (args, batch) in [
        (&["-t", "2"][..], true),
        (&["-t", "2", "--shard-sched", "normal"], false),
        (&["-t", "1"], false),
        (&["-t", "1", "--shard-sched", "batch"], true),
    ] {
        let s = on_one_cpu(args);
        let shards: usize = args[1].parse().unwrap();
        let mut policies = Vec::new();
        eventually(10, || {
            policies = shard_policies(s.pid());
            policies.len() == 2 * shards
        });
        let batches = policies.iter().filter(|&&p| p == libc::SCHED_BATCH as u32);
        let want = if batch { shards } else { 0 };
        assert_eq!(batches.count(), want, "{args:?}: {policies:?}");
        let name = if batch { "batch" } else { "normal" };
        assert_eq!(
            s.client().stats("settings")["shard_sched"],
            name,
            "{args:?}"
        );
    }
}
