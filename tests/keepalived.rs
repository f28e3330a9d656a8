//! The repcached setup of a virtual IP over a twin pair, with keepalived (VRRP) moving the
//! address: nodes a and b each run one twin and one keepalived in their own network
//! namespace, a client in namespace c writes through the virtual IP, node a crashes, and
//! the client reads every key back through the same address from b. docs/scaling.md has the
//! recipe this checks.

mod common;
#[path = "keepalived/netns.rs"]
mod netns;

use common::{BIN, Client};
use netns::{Net, Proc, SUBNET};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PORT: u16 = 11211;
const REPL_PORT: u16 = 11212;

/// Under CI=true (`.ci/run` installs keepalived, and CI runs as root like this host) a
/// missing prerequisite fails the test; elsewhere the test says why it skipped.
fn skip(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "required under CI=true: {why}"
    );
    eprintln!("SKIPPED: {why}");
}

fn runs(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether this host can run the test, saying why not.
fn prerequisites() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("not root (network namespaces, veth and keepalived need it)");
        false
    } else if !runs("ip", "-V") {
        skip("ip not installed (apt-get install iproute2)");
        false
    } else if !runs("keepalived", "--version") {
        skip("keepalived not installed (apt-get install keepalived)");
        false
    } else {
        true
    }
}

fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn addr(host: u8) -> String {
    format!("{SUBNET}.{host}")
}

/// The virtual IP, held by whichever node keepalived made master.
fn vip() -> String {
    addr(100)
}

/// A client in namespace c of the server at `host`, retried while it does not answer yet.
fn client(net: &Net, host: &str) -> Option<Client> {
    let to: SocketAddr = format!("{host}:{PORT}").parse().unwrap();
    let mut c = None;
    eventually(15, || {
        c = net.connect("c", to).ok().map(Client::from_stream);
        c.is_some()
    });
    c
}

/// corecached on `node` (address `host`), bound to its own address and to the virtual IP,
/// the twin at `twin` over an authenticated link.
fn corecached(net: &Net, dir: &Path, node: &str, host: u8, twin: u8) -> Proc {
    let (listen, twin) = (format!("{},{}", addr(host), vip()), addr(twin));
    let secret = dir.join("secret");
    let args = [
        "-p",
        &PORT.to_string(),
        "-l",
        &listen,
        "-t",
        "2",
        "-X",
        &REPL_PORT.to_string(),
        "--twin",
        &format!("{twin}:{REPL_PORT}"),
        "--repl-listen",
        &addr(host),
        "--repl-secret-file",
        secret.to_str().unwrap(),
    ];
    net.spawn(
        node,
        BIN,
        &args,
        &dir.join(format!("corecached-{node}.log")),
    )
}

/// keepalived's config for `node`: both nodes start as BACKUP with `nopreempt`, so a node
/// that returns does not take the address back before it has caught up from its twin.
fn keepalived_conf(node: &str, priority: u8, me: u8, peer: u8) -> String {
    format!(
        "global_defs {{\n  router_id corecached_{node}\n}}\n\
         vrrp_instance corecached {{\n  state BACKUP\n  nopreempt\n  interface eth0\n  \
         virtual_router_id 51\n  priority {priority}\n  advert_int 1\n  \
         unicast_src_ip {}\n  unicast_peer {{\n    {}\n  }}\n  \
         virtual_ipaddress {{\n    {}/24 dev eth0\n  }}\n}}\n",
        addr(me),
        addr(peer),
        vip()
    )
}

fn keepalived(net: &Net, dir: &Path, node: &str, priority: u8, me: u8, peer: u8) -> Proc {
    let conf = dir.join(format!("keepalived-{node}.conf"));
    std::fs::write(&conf, keepalived_conf(node, priority, me, peer)).unwrap();
    let (pid, vrrp_pid) = (
        dir.join(format!("keepalived-{node}.pid")),
        dir.join(format!("keepalived-{node}-vrrp.pid")),
    );
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    // -n: stay in the foreground so the pid is ours; -P: VRRP only; -G: no syslog.
    let args = [
        "-n",
        "-l",
        "-D",
        "-P",
        "-G",
        "-f",
        &path(&conf),
        "-p",
        &path(&pid),
        "-r",
        &path(&vrrp_pid),
    ];
    let mut p = net.spawn(
        node,
        "keepalived",
        &args,
        &dir.join(format!("keepalived-{node}.log")),
    );
    p.helper = Some((vrrp_pid, path(&conf)));
    p
}

/// The test's files; removed on drop, after printing the logs if the test failed.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for e in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                eprintln!("--- {}\n{text}", e.path().display());
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i}-{}", "v".repeat(i % 200)).into_bytes()
}

#[test]
fn a_virtual_ip_over_a_twin_pair_survives_the_master_crashing() {
    if !prerequisites() {
        return;
    }
    let net = match Net::create("ka", &["a", "b", "c"]) {
        Ok(net) => net,
        Err(e) => return skip(&format!("cannot build network namespaces: {e}")),
    };
    let dir =
        Dir(std::env::temp_dir().join(format!("corecached-keepalived-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("secret"), "vip-test-secret\n").unwrap();
    for node in ["a", "b"] {
        net.nonlocal_bind(node).unwrap();
    }
    // Declared after `net` and `dir`, so the processes are killed before those go.
    let mut cc_a = corecached(&net, &dir.0, "a", 1, 2);
    let cc_b = corecached(&net, &dir.0, "b", 2, 1);
    let (mut direct_a, mut direct_b) = (
        client(&net, &addr(1)).expect("corecached on a"),
        client(&net, &addr(2)).expect("corecached on b"),
    );
    let streaming = |c: &mut Client| c.stats("replication")["links_streaming"] == "2";
    assert!(eventually(15, || streaming(&mut direct_a) && streaming(&mut direct_b)));

    // a starts first, so it is the master; b then stays backup.
    let mut ka_a = keepalived(&net, &dir.0, "a", 150, 1, 2);
    assert!(
        eventually(20, || net.holds("a", &vip())),
        "a never took the VIP"
    );
    let _ka_b = keepalived(&net, &dir.0, "b", 100, 2, 1);

    let mut c = client(&net, &vip()).expect("nothing on the VIP");
    assert_eq!(c.stat("pid"), cc_a.pid() as u64, "the VIP leads to a");
    let n = 1000;
    for i in 0..n {
        assert_eq!(c.set(&format!("vip:{i}"), &value(i)), "STORED\r\n");
    }
    // Replication is asynchronous: what a has not had acknowledged when it dies is lost,
    // and `lag_records` says how much that is. The test waits for it to reach 0.
    let acked = |c: &mut Client| c.stats("replication")["lag_records"] == "0";
    assert!(eventually(20, || acked(&mut c)), "b never acknowledged");

    // a crashes: keepalived and corecached killed by pid, nothing handed over.
    ka_a.crash();
    cc_a.crash();
    assert!(
        eventually(20, || net.holds("b", &vip())),
        "the VIP did not move to b"
    );
    let mut c = client(&net, &vip()).expect("nothing on the VIP after failover");
    assert_eq!(c.stat("pid"), cc_b.pid() as u64, "the VIP leads to b");
    for i in 0..n {
        assert_eq!(c.get(&format!("vip:{i}")), Some(value(i)), "vip:{i}");
    }
    assert_eq!(c.set("after", b"failover"), "STORED\r\n");
    // A killed keepalived cannot take its address down: a's kernel still holds the VIP.
    // The client's neighbour entry follows b's gratuitous ARPs; keepalived removes a stale
    // VIP when it starts again.
    assert!(net.holds("a", &vip()));
}
