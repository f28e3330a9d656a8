//! Process-level behaviour: command line, port conflicts, connection limit, eviction
//! under -m, graceful stop on SIGTERM (idle, under load, in the middle of a twin's copy).

mod common;
use common::{Client, Server, free_port, run_with};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[test]
fn bad_arguments_exit_64_with_one_line() {
    for args in [
        &["-p", "notaport"][..],
        &["-m", "0"],
        &["-t", "0"],
        &["-f", "0.5"],
        &["-I", "300m"],
        &["-l", "not-an-ip"],
        &["--no-such-flag"],
    ] {
        let (code, text) = run_with(args);
        assert_eq!(code, 64, "{args:?}: {text}");
        assert_eq!(text.trim().lines().count(), 1, "{args:?}: {text}");
    }
}

#[test]
fn help_and_version() {
    let (code, text) = run_with(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--port",
        "--memory-limit",
        "--threads",
        "--max-item-size",
        "--spin-before-park-us",
    ] {
        assert!(text.contains(flag), "help lacks {flag}");
    }
    let (code, text) = run_with(&["-V"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("corecached "));
}

#[test]
fn port_in_use_is_refused() {
    let port = free_port();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (code, text) = run_with(&["-p", &port.to_string(), "-l", "127.0.0.1"]);
    assert_ne!(code, 0);
    assert!(text.contains("failed to listen"), "{text}");
}

#[test]
fn a_connection_limit_beyond_the_fd_limit_is_refused() {
    // Past the kernel's ceiling for RLIMIT_NOFILE not even root can raise the limit, so the
    // server must refuse at start, as memcached does, instead of hanging clients later.
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20);
    let port = free_port();
    let conns = (nr_open + 1).to_string();
    let (code, text) = run_with(&["-p", &port.to_string(), "-l", "127.0.0.1", "-c", &conns]);
    assert_eq!(code, 71, "{text}");
    assert!(
        text.contains("failed to set rlimit for open files"),
        "{text}"
    );
    assert_eq!(text.trim().lines().count(), 1, "{text}");
}

#[test]
fn second_server_on_same_port_is_refused() {
    let s = Server::start(&["-t", "2"]);
    let (code, text) = run_with(&["-p", &s.port.to_string(), "-l", "127.0.0.1"]);
    assert_ne!(code, 0, "{text}");
    s.client().set("still", b"here");
}

#[test]
fn connection_limit_is_enforced() {
    let s = Server::start(&["-c", "3", "-t", "2"]);
    let mut first = s.client();
    // the readiness probe's connection may still be closing: wait until only we remain
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while first.stat("curr_connections") != 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut held: Vec<Client> = vec![first, s.client(), s.client()];
    for c in &mut held {
        assert!(c.line("version").starts_with("VERSION"));
    }
    let mut extra = s.client();
    assert_eq!(
        String::from_utf8_lossy(&extra.read_until(b"\r\n")),
        "ERROR Too many open connections\r\n"
    );
    assert!(extra.is_closed());
    held.pop();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut again = s.client();
    assert!(again.line("version").starts_with("VERSION"));
    assert_eq!(again.stat("rejected_connections"), 1);
}

#[test]
fn eviction_under_memory_limit_shows_in_stats() {
    for t in ["1", "4"] {
        let s = Server::start(&["-m", "8", "-t", t]);
        let mut c = s.client();
        let value = vec![b'v'; 1000];
        let mut req = Vec::new();
        for i in 0..20_000 {
            req.extend_from_slice(format!("set key{i} 0 0 {}\r\n", value.len()).as_bytes());
            req.extend_from_slice(&value);
            req.extend_from_slice(b"\r\n");
        }
        c.send(&req);
        c.read_exact(20_000 * 8);
        let st = c.stats("");
        let evictions: u64 = st["evictions"].parse().unwrap();
        let items: u64 = st["curr_items"].parse().unwrap();
        assert!(evictions > 0, "{st:?}");
        assert_eq!(
            items + evictions,
            20_000,
            "every missing item is an eviction"
        );
        assert!(st["bytes"].parse::<u64>().unwrap() <= 8 << 20);
        // the newest writes survive
        assert_eq!(c.get("key19999").unwrap(), value);
    }
}

#[test]
fn disabled_evictions_answer_out_of_memory() {
    let s = Server::start(&["-m", "4", "-M", "-t", "1"]);
    let mut c = s.client();
    let value = vec![b'v'; 100_000];
    let mut saw_oom = false;
    for i in 0..200 {
        let r = c.set(&format!("k{i}"), &value);
        if r == "SERVER_ERROR out of memory storing object\r\n" {
            saw_oom = true;
            break;
        }
        assert_eq!(r, "STORED\r\n");
    }
    assert!(saw_oom);
    assert_eq!(c.get("k0").unwrap(), value, "nothing was evicted");
    assert_eq!(c.stat("evictions"), 0);
}

#[test]
fn sigterm_finishes_and_exits_zero() {
    let mut s = Server::start(&["-t", "2"]);
    let mut c = s.client();
    c.set("k", b"v");
    let status = s.terminate().expect("server did not exit after SIGTERM");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sighup_is_ignored_and_sigusr1_stops_gracefully() {
    let mut s = Server::start(&["-t", "2"]);
    let mut c = s.client();
    c.set("k", b"v");
    // SAFETY: signalling our own child process by its pid.
    unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        s.child.try_wait().unwrap(),
        None,
        "SIGHUP killed the server"
    );
    assert_eq!(c.get("k").as_deref(), Some(&b"v"[..]));
    assert_eq!(s.client().get("k").as_deref(), Some(&b"v"[..]));
    let status = s
        .signal_and_wait(libc::SIGUSR1)
        .expect("server did not exit after SIGUSR1");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn shutdown_command_with_a_flag() {
    let mut s = Server::start(&["-A"]);
    let mut c = s.client();
    c.send(b"shutdown\r\n");
    assert!(c.is_closed());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = s.child.try_wait() {
            assert_eq!(status.code(), Some(0));
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("server still running after shutdown");
}

#[test]
fn memcached_style_command_line_flags() {
    let pidfile = std::env::temp_dir().join(format!("corecached-test-{}.pid", std::process::id()));
    let pidpath = pidfile.to_string_lossy().into_owned();
    let s = Server::start(&[
        "-U", "0", "-P", &pidpath, "-u", "nobody", "-m", "64", "-c", "100",
    ]);
    let written = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(written.trim(), s.child.id().to_string());
    let _ = std::fs::remove_file(&pidfile);
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        assert_ne!(uid, "0", "-u nobody dropped root");
    }
    s.client().set("k", b"v");
    let (code, text) = run_with(&["-U", "70000"]);
    assert_eq!(code, 64, "{text}");
}

/// SIGTERM, then the time until the process exited with status 0. Waits up to 10 s: the
/// bound is 3 s, and the slack is for a loaded 2-core host, not for a hang.
fn stop_in_time(s: &mut Server, what: &str) -> std::time::Duration {
    let start = std::time::Instant::now();
    let status = s.terminate();
    let took = start.elapsed();
    eprintln!("{what}: exited {:.3} s after SIGTERM", took.as_secs_f64());
    let status = status.unwrap_or_else(|| panic!("{what}: still running 10 s after SIGTERM"));
    assert_eq!(status.code(), Some(0), "{what}");
    took
}

const SHARD_COUNTS: [&str; 3] = ["1", "4", "32"];

#[test]
fn sigterm_stops_an_idle_server() {
    for t in SHARD_COUNTS {
        let mut s = Server::start(&["-t", t]);
        // Long enough for every shard to go to sleep with nothing pending.
        std::thread::sleep(std::time::Duration::from_millis(300));
        stop_in_time(&mut s, &format!("idle -t {t}"));
    }
}

/// Time slices the server's threads have had so far (`/proc/PID/task/*/schedstat`).
fn time_slices(pid: i32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server's threads");
    tasks
        .map(|t| std::fs::read_to_string(t.unwrap().path().join("schedstat")).unwrap())
        .map(|line| {
            line.split_whitespace()
                .nth(2)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

/// What a shard keeps armed while requests come (the tick hold's 2 ms timer, the expiry
/// reclaim) ends once they stop: the server's threads then do not run at all.
#[test]
fn a_server_left_idle_after_load_stops_running() {
    let s = Server::start(&["-t", "2"]);
    let mut c = s.client();
    for i in 0..2000 {
        assert_eq!(c.set(&format!("k{i}"), b"v"), "STORED\r\n");
        assert_eq!(c.get(&format!("k{i}")).as_deref(), Some(&b"v"[..]));
    }
    drop(c);
    // The reclaim doubles its pause, up to 1 s, while its steps free nothing.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let before = time_slices(s.pid());
    std::thread::sleep(std::time::Duration::from_secs(1));
    let after = time_slices(s.pid());
    assert_eq!(
        after - before,
        0,
        "an idle server's threads ran {} times in 1 s",
        after - before
    );
}

/// Clients setting and getting keys on every shard until the server closes them (or a
/// bounded number of requests is done); returns the requests answered so far.
fn load(port: u16, clients: usize) -> (Arc<AtomicU64>, Vec<std::thread::JoinHandle<()>>) {
    let done = Arc::new(AtomicU64::new(0));
    let threads = (0..clients)
        .map(|c| {
            let done = done.clone();
            std::thread::spawn(move || {
                let Ok(mut sk) = TcpStream::connect(("127.0.0.1", port)) else {
                    return;
                };
                let _ = sk.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut buf = [0u8; 256];
                for i in 0..200_000u32 {
                    let req = if i % 2 == 0 {
                        format!("set k{c}:{} 0 0 5\r\nvalue\r\n", i % 1000)
                    } else {
                        format!("get k{c}:{}\r\n", (i - 1) % 1000)
                    };
                    if sk.write_all(req.as_bytes()).is_err() {
                        return;
                    }
                    match sk.read(&mut buf) {
                        Ok(n) if n > 0 => done.fetch_add(1, Ordering::Relaxed),
                        _ => return,
                    };
                }
            })
        })
        .collect();
    (done, threads)
}

#[test]
fn sigterm_stops_a_server_under_load() {
    for t in SHARD_COUNTS {
        let mut s = Server::start(&["-t", t]);
        let (done, clients) = load(s.port, 8);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while done.load(Ordering::Relaxed) < 2000 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            done.load(Ordering::Relaxed) >= 2000,
            "-t {t}: the load never ran"
        );
        stop_in_time(&mut s, &format!("-t {t} under load"));
        for c in clients {
            c.join().unwrap();
        }
    }
}

#[test]
fn sigterm_stops_both_twins_in_the_middle_of_a_full_copy() {
    for t in SHARD_COUNTS {
        let (ra, rb) = (free_port(), free_port());
        let twin_args = |repl: u16, twin: u16| {
            let x = [repl.to_string(), format!("127.0.0.1:{twin}")];
            let mut a = vec!["-t".to_string(), t.into(), "-m".into(), "1024".into()];
            a.extend([
                "-X".to_string(),
                x[0].clone(),
                "--twin".into(),
                x[1].clone(),
            ]);
            a
        };
        let a_args = twin_args(ra, rb);
        let mut a = Server::start(&a_args.iter().map(String::as_str).collect::<Vec<_>>());
        // Enough that copying it to the twin takes a while: 200,000 items of 2 KB.
        let mut c = a.client();
        let value = vec![b'v'; 2000];
        for chunk in 0..20 {
            let mut req = Vec::new();
            for i in chunk * 10_000..(chunk + 1) * 10_000 {
                req.extend_from_slice(
                    format!("set key{i} 0 0 {} noreply\r\n", value.len()).as_bytes(),
                );
                req.extend_from_slice(&value);
                req.extend_from_slice(b"\r\n");
            }
            c.send(&req);
        }
        assert!(c.line("version").starts_with("VERSION"));
        let b_args = twin_args(rb, ra);
        let mut b = Server::start(&b_args.iter().map(String::as_str).collect::<Vec<_>>());
        // Wait until a shard of A is copying to B (the copy is started by B's arrival).
        let copying = |c: &mut Client| {
            c.stats("replication")
                .iter()
                .any(|(k, v)| k.ends_with(":link") && v == "full_sync")
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !copying(&mut c) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(copying(&mut c), "-t {t}: no full copy seen");
        stop_in_time(&mut a, &format!("-t {t} sending a full copy"));
        stop_in_time(&mut b, &format!("-t {t} receiving a full copy"));
    }
}
