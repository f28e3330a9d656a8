//! dist/corecached.service: `systemd-analyze verify` accepts it without a warning, every
//! system call the server makes is allowed by its SystemCallFilter (traced with strace),
//! and its ExecStart line serves and stops cleanly under the unit's user, limits and
//! read-only file system, emulated without systemd (this host has no systemd as PID 1):
//! a mount namespace with every mount read-only and /tmp, /home, /root empty, an
//! unprivileged user without capabilities and with no_new_privs.

mod common;
use common::{BIN, Client, free_port, tool_present};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn unit_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/corecached.service"))
        .unwrap()
}

/// Every value of `key=` in the unit, in order.
fn values(unit: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// The unit's ExecStart arguments, with the built binary and `port` in place of the
/// installed path and 11211.
fn exec_args(port: u16) -> Vec<String> {
    let line = values(&unit_text(), "ExecStart").remove(0);
    let mut args: Vec<String> = line
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect();
    let p = args
        .iter()
        .position(|a| a == "-p")
        .expect("-p in ExecStart");
    args[p + 1] = port.to_string();
    args
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("corecached-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    if !tool_present("systemd-analyze", &["--version"], "apt-get install systemd") {
        return;
    }
    // verify checks that ExecStart's program exists: point it at the built one.
    let dir = temp_dir("unit");
    let unit = dir.join("corecached.service");
    std::fs::write(&unit, unit_text().replace("/usr/local/bin/corecached", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{text}");
    // An unknown key or a bad value is only a warning to verify ("..., ignoring").
    assert!(
        text.trim().is_empty(),
        "systemd-analyze verify warns:\n{text}"
    );
}

/// Waits (bounded) until `port` accepts.
fn wait_serving(child: &mut std::process::Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Serves a few requests through `child` (strace or unshare, whose own child is the
/// server), stops the server with SIGTERM and expects `child` to exit with its status 0.
fn exercise_and_stop(mut child: std::process::Child, port: u16) {
    wait_serving(&mut child, port);
    let mut c = Client::connect(port);
    assert_eq!(c.set("k", b"v"), "STORED\r\n");
    assert_eq!(c.get("k").as_deref(), Some(&b"v"[..]));
    assert!(c.stats("").contains_key("pid"));
    drop(c);
    // Neither strace nor unshare passes SIGTERM on: signal the server, their child.
    let id = child.id();
    let children = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children")).unwrap();
    let server: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: signalling the server this test started, by its pid.
    unsafe { libc::kill(server, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

/// The system calls named in an `strace -f` log.
fn traced_calls(log: &str) -> std::collections::BTreeSet<String> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split_once(' ')?.1.trim_start();
            let name = &rest[..rest.find('(')?];
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                .then(|| name.to_string())
        })
        .collect()
}

/// The system calls a SystemCallFilter set allows, groups expanded as systemd expands them.
fn filter_set(group: &str) -> std::collections::BTreeSet<String> {
    let mut todo = vec![group.to_string()];
    let (mut seen, mut calls) = (Vec::new(), std::collections::BTreeSet::new());
    while let Some(g) = todo.pop() {
        if seen.contains(&g) {
            continue;
        }
        let out = Command::new("systemd-analyze")
            .args(["syscall-filter", &g])
            .output()
            .unwrap();
        for word in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
            let w = word.trim();
            match w.chars().next() {
                Some('@') => todo.push(w.to_string()),
                Some(c) if c.is_ascii_lowercase() => {
                    calls.insert(w.to_string());
                }
                _ => {}
            }
        }
        seen.push(g);
    }
    calls
}

#[test]
fn every_system_call_the_server_makes_passes_the_units_filter() {
    if !tool_present("strace", &["-V"], "apt-get install strace")
        || !tool_present("systemd-analyze", &["--version"], "apt-get install systemd")
    {
        return;
    }
    let filters = values(&unit_text(), "SystemCallFilter");
    assert_eq!(filters, ["@system-service", "~@privileged"]);
    let dir = temp_dir("strace");
    let log = dir.join("strace.txt");
    let port = free_port();
    // Two shards, UDP too, and a twin link to a port nobody serves (it keeps retrying).
    let mut args = exec_args(port);
    let u = args
        .iter()
        .position(|a| a == "-U")
        .expect("-U in ExecStart");
    args[u + 1] = port.to_string();
    args.extend([
        "-t".into(),
        "2".into(),
        "-X".into(),
        free_port().to_string(),
    ]);
    args.extend(["-x".to_string(), format!("127.0.0.1:{}", free_port())]);
    let child = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .arg(BIN)
        .args(&args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    exercise_and_stop(child, port);
    let used = traced_calls(&std::fs::read_to_string(&log).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    assert!(used.contains("io_uring_enter"), "{used:?}");
    let allowed = filter_set("@system-service");
    let denied = filter_set("@privileged");
    let refused: Vec<_> = used
        .iter()
        .filter(|c| !allowed.contains(*c) || denied.contains(*c))
        .collect();
    assert!(refused.is_empty(), "the unit's filter refuses {refused:?}");
}

/// The unit's `key` (a number, or with an M suffix), capped at what this process may grant:
/// a container's hard limits can be lower than a host's (8 MiB of memlock here).
fn limit(key: &str, resource: libc::__rlimit_resource_t) -> u64 {
    let v = values(&unit_text(), key).remove(0);
    let n: u64 = match v.strip_suffix('M') {
        Some(m) => m.parse::<u64>().unwrap() << 20,
        None => v.parse().unwrap(),
    };
    // SAFETY: getrlimit writes the struct we pass.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    unsafe { libc::getrlimit(resource, &mut lim) };
    n.min(lim.rlim_max)
}

#[test]
fn the_units_command_line_serves_in_its_sandbox() {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    if !root {
        common::skipped("root not available (a mount namespace and setpriv need it)");
        return;
    }
    for tool in ["unshare", "setpriv", "prlimit"] {
        if !tool_present(tool, &["--version"], "apt-get install util-linux") {
            return;
        }
    }
    let unit = unit_text();
    assert_eq!(values(&unit, "DynamicUser"), ["yes"]);
    assert_eq!(values(&unit, "ProtectSystem"), ["strict"]);
    let port = free_port();
    // ProtectSystem=strict (every mount read-only), ProtectHome and PrivateTmp (empty
    // /home, /root and /tmp), then DynamicUser's unprivileged ids without capabilities
    // and NoNewPrivileges, under the unit's memlock and file limits.
    let script = r#"
        set -e
        mount --make-rprivate /
        awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do
            mount -o remount,bind,ro "$m" 2>/dev/null || true
        done
        for d in /tmp /home /root; do mount -t tmpfs -o ro,mode=0755 tmpfs "$d"; done
        if touch /usr/corecached-write-test 2>/dev/null; then echo "root is writable" >&2; exit 90; fi
        exec prlimit --memlock="$MEMLOCK" --nofile="$NOFILE" -- \
            setpriv --reuid=61000 --regid=61000 --clear-groups --inh-caps=-all \
                    --bounding-set=-all --no-new-privs -- "$@"
    "#;
    // The sandbox hides /tmp, /home and /root, where a checkout (and so the binary) may
    // live: run a copy from /dev/shm, which it leaves readable.
    let copy = std::path::PathBuf::from(format!("/dev/shm/corecached-unit-{}", std::process::id()));
    std::fs::create_dir_all(&copy).unwrap();
    let bin = copy.join("corecached");
    std::fs::copy(BIN, &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [(&copy, 0o755), (&bin, 0o755)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let child = Command::new("unshare")
        .args(["--mount", "--fork", "--", "sh", "-c", script, "sh"])
        .arg(&bin)
        .args(exec_args(port))
        .env(
            "MEMLOCK",
            limit("LimitMEMLOCK", libc::RLIMIT_MEMLOCK).to_string(),
        )
        .env(
            "NOFILE",
            limit("LimitNOFILE", libc::RLIMIT_NOFILE).to_string(),
        )
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    exercise_and_stop(child, port);
    let _ = std::fs::remove_dir_all(&copy);
}
