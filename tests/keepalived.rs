//! The repcached setup of a virtual IP over a twin pair, with keepalived (VRRP) moving the
//! address: nodes a and b each run one twin and one keepalived in their own network
//! namespace, a client in namespace c writes through the virtual IP, node a crashes, and
//! the client reads every key back through the same address from b. docs/scaling.md has the
//! recipe this checks.

mod common;
#[path = "keepalived/netns.rs"]
mod netns;

use common::{BIN, Client, eventually};
use netns::{Net, Proc, SUBNET};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

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
/// that returns does not take the address back before it has caught up from its twin; the
/// check script puts a node whose corecached does not answer into FAULT, which gives the
/// address up.
fn keepalived_conf(node: &str, priority: u8, me: u8, peer: u8, check: &Path) -> String {
    format!(
        "global_defs {{\n  router_id corecached_{node}\n  script_user root\n}}\n\
         vrrp_script corecached_up {{\n  script \"{check} {me_addr}\"\n  interval 1\n  \
         timeout 2\n  fall 2\n  rise 2\n}}\n\
         vrrp_instance corecached {{\n  state BACKUP\n  nopreempt\n  interface eth0\n  \
         virtual_router_id 51\n  priority {priority}\n  advert_int 1\n  \
         unicast_src_ip {me_addr}\n  unicast_peer {{\n    {}\n  }}\n  \
         virtual_ipaddress {{\n    {}/24 dev eth0\n  }}\n  \
         track_script {{\n    corecached_up\n  }}\n}}\n",
        addr(peer),
        vip(),
        check = check.display(),
        me_addr = addr(me),
    )
}

/// The health check keepalived runs: healthy when corecached answers `version` on the
/// address given (bash's /dev/tcp, so nothing beyond bash is needed).
const CHECK: &str = "#!/bin/bash\n\
exec 3<>\"/dev/tcp/$1/11211\" || exit 1\n\
printf 'version\\r\\n' >&3\n\
read -r -t 1 line <&3 && [[ $line == VERSION* ]]\n";

fn keepalived(net: &Net, dir: &Path, node: &str, priority: u8, me: u8, peer: u8) -> Proc {
    let conf = dir.join(format!("keepalived-{node}.conf"));
    let check = dir.join("check-corecached");
    std::fs::write(&conf, keepalived_conf(node, priority, me, peer, &check)).unwrap();
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

/// A twin pair on nodes a and b with keepalived in front, the client's node c. Fields drop
/// in order: the processes are killed before the files and the namespaces go.
struct Site {
    /// corecached on a and b.
    cc: Vec<Proc>,
    /// keepalived on a and b.
    ka: Vec<Proc>,
    dir: Dir,
    net: Net,
}

impl Site {
    /// Builds the network, starts both twins, then keepalived on a and, once a holds the
    /// virtual IP, on b. `None` when the host cannot (see `skip`).
    fn start(tag: &str) -> Option<Site> {
        if !prerequisites() {
            return None;
        }
        let net = match Net::create(tag, &["a", "b", "c"]) {
            Ok(net) => net,
            Err(e) => {
                skip(&format!("cannot build network namespaces: {e}"));
                return None;
            }
        };
        let dir = std::env::temp_dir().join(format!(
            "corecached-keepalived-{tag}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = Dir(dir);
        std::fs::write(dir.0.join("secret"), "vip-test-secret\n").unwrap();
        let check = dir.0.join("check-corecached");
        std::fs::write(&check, CHECK).unwrap();
        std::fs::set_permissions(&check, std::fs::Permissions::from_mode(0o755)).unwrap();
        for node in ["a", "b"] {
            net.nonlocal_bind(node).unwrap();
        }
        let cc = vec![
            corecached(&net, &dir.0, "a", 1, 2),
            corecached(&net, &dir.0, "b", 2, 1),
        ];
        let mut site = Site {
            cc,
            ka: Vec::new(),
            dir,
            net,
        };
        for host in [1, 2] {
            let mut c = site.direct(host);
            let streaming = || c.stats("replication")["links_streaming"] == "2";
            assert!(eventually(15, streaming), "twin link of {host} not up");
        }
        // a starts first, so it becomes the master; b then stays backup.
        let ka_a = keepalived(&site.net, &site.dir.0, "a", 150, 1, 2);
        site.ka.push(ka_a);
        assert!(site.vip_on("a"), "a never took the VIP");
        let ka_b = keepalived(&site.net, &site.dir.0, "b", 100, 2, 1);
        site.ka.push(ka_b);
        Some(site)
    }

    /// A client in c of the corecached at `SUBNET.host`.
    fn direct(&self, host: u8) -> Client {
        client(&self.net, &addr(host)).unwrap_or_else(|| panic!("nothing on {}", addr(host)))
    }

    /// A client in c of the virtual IP, checked to reach the corecached of node `i`.
    fn through_vip(&self, i: usize) -> Client {
        let mut c = client(&self.net, &vip()).expect("nothing on the VIP");
        assert_eq!(
            c.stat("pid"),
            self.cc[i].pid() as u64,
            "the VIP leads to {i}"
        );
        c
    }

    /// Waits (bounded) until `node` holds the virtual IP.
    fn vip_on(&self, node: &str) -> bool {
        eventually(20, || self.net.holds(node, &vip()))
    }
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i}-{}", "v".repeat(i % 200)).into_bytes()
}

fn write(c: &mut Client, keys: std::ops::Range<usize>) {
    for i in keys {
        assert_eq!(c.set(&format!("vip:{i}"), &value(i)), "STORED\r\n");
    }
}

/// Replication is asynchronous: what a node has not had acknowledged when it dies is lost,
/// and `lag_records` says how much that is. The test waits for it to reach 0 before a crash.
fn acked(c: &mut Client) {
    let acked = || c.stats("replication")["lag_records"] == "0";
    assert!(eventually(20, acked), "the twin never acknowledged");
}

fn read_all(c: &mut Client, keys: std::ops::Range<usize>) {
    for i in keys {
        assert_eq!(c.get(&format!("vip:{i}")), Some(value(i)), "vip:{i}");
    }
}

#[test]
fn a_virtual_ip_over_a_twin_pair_survives_the_master_crashing() {
    let Some(mut site) = Site::start("ka1") else {
        return;
    };
    let mut c = site.through_vip(0);
    write(&mut c, 0..1000);
    acked(&mut c);
    // a crashes: keepalived and corecached killed by pid, nothing handed over.
    let t = Instant::now();
    site.ka[0].crash();
    site.cc[0].crash();
    assert!(site.vip_on("b"), "the VIP did not move to b");
    eprintln!(
        "master crash: VIP on b after {} ms",
        t.elapsed().as_millis()
    );
    let mut c = site.through_vip(1);
    read_all(&mut c, 0..1000);
    assert_eq!(c.set("after", b"failover"), "STORED\r\n");
    // A killed keepalived cannot take its address down: a's kernel still holds the VIP.
    // The client's neighbour entry follows b's gratuitous ARPs; keepalived removes a stale
    // VIP when it starts again.
    assert!(site.net.holds("a", &vip()));
}

#[test]
fn the_health_check_moves_the_vip_and_a_returning_node_catches_up() {
    let Some(mut site) = Site::start("ka2") else {
        return;
    };
    let mut c = site.through_vip(0);
    write(&mut c, 0..500);
    acked(&mut c);
    // Only corecached dies on a: its keepalived sees the check fail, enters FAULT and
    // gives the address up at once.
    let t = Instant::now();
    site.cc[0].crash();
    assert!(site.vip_on("b"), "the VIP did not move to b");
    eprintln!(
        "corecached crash: VIP on b after {} ms",
        t.elapsed().as_millis()
    );
    assert!(!site.net.holds("a", &vip()), "a kept the VIP in FAULT");
    let mut c = site.through_vip(1);
    read_all(&mut c, 0..500);
    write(&mut c, 500..800);

    // a's corecached returns and copies everything from b; the check passes again and a
    // becomes backup (nopreempt: b keeps the address).
    site.cc[0] = corecached(&site.net, &site.dir.0, "a", 1, 2);
    let mut a = site.direct(1);
    // The copy is a scan of b's shards, in no particular key order: wait for all of it.
    assert!(
        eventually(20, || a.stat("curr_items") == 800),
        "a did not catch up"
    );
    read_all(&mut a, 0..800);
    assert!(site.net.holds("b", &vip()));
    acked(&mut c);

    // Now b crashes, and the address comes back to a with every key.
    let t = Instant::now();
    site.ka[1].crash();
    site.cc[1].crash();
    assert!(site.vip_on("a"), "the VIP did not come back to a");
    eprintln!(
        "backup crash: VIP on a after {} ms",
        t.elapsed().as_millis()
    );
    read_all(&mut site.through_vip(0), 0..800);
}
