//! The test's own network: four network namespaces (a hub holding a bridge, and nodes
//! a, b and c, each with an `eth0` veth on that bridge), deleted on drop; processes started
//! inside them and killed by pid on drop; sockets opened from inside a namespace.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The subnet exists only inside the test's namespaces, so it cannot clash with the host's.
pub const SUBNET: &str = "172.31.213";

/// Runs `ip args`; the error carries its stderr.
pub fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub struct Net {
    prefix: String,
    made: Vec<String>,
}

impl Net {
    /// Creates the hub and the nodes; node `i` of `nodes` gets `SUBNET.(i+1)/24`.
    pub fn create(tag: &str, nodes: &[&str]) -> Result<Net, String> {
        let mut net = Net {
            prefix: format!("cc-{tag}-{}-", std::process::id()),
            made: Vec::new(),
        };
        let hub = net.add("hub")?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        for (i, node) in nodes.iter().enumerate() {
            let ns = net.add(node)?;
            let port = format!("p{node}");
            ip(&[
                "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ])?;
            ip(&["-n", &hub, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &hub, "link", "set", &port, "up"])?;
            let addr = format!("{SUBNET}.{}/24", i + 1);
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        Ok(net)
    }

    fn add(&mut self, node: &str) -> Result<String, String> {
        let ns = self.ns(node);
        ip(&["netns", "add", &ns])?;
        self.made.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace name of `node`.
    pub fn ns(&self, node: &str) -> String {
        format!("{}{node}", self.prefix)
    }

    /// Lets a node's servers bind an address it does not hold yet (the virtual IP).
    pub fn nonlocal_bind(&self, node: &str) -> Result<(), String> {
        let ns = self.ns(node);
        let ok = Command::new("ip")
            .args(["netns", "exec", &ns, "sh", "-c"])
            .arg("echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind")
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(()).ok_or(format!("ip_nonlocal_bind in {ns}"))
    }

    /// Whether `node`'s eth0 holds `addr`.
    pub fn holds(&self, node: &str, addr: &str) -> bool {
        ip(&["-n", &self.ns(node), "-br", "addr", "show", "dev", "eth0"])
            .is_ok_and(|out| out.split_whitespace().any(|a| a == format!("{addr}/24")))
    }

    /// A TCP connection made from inside `node`'s namespace: the socket stays there.
    pub fn connect(&self, node: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let path = format!("/run/netns/{}", self.ns(node));
        std::thread::scope(|s| {
            s.spawn(|| {
                let f = File::open(&path)?;
                // SAFETY: moves only this short-lived thread into the namespace.
                if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            })
            .join()
            .expect("connect thread")
        })
    }

    /// Starts `cmd args` inside `node`'s namespace (`ip netns exec` execs it: same pid),
    /// its output to `log`.
    pub fn spawn(&self, node: &str, cmd: &str, args: &[&str], log: &Path) -> Proc {
        let out = File::create(log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(node), cmd])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd} in {node}: {e}"));
        Proc {
            child,
            helper: None,
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.made.iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// A process the test started, killed by pid on drop, with the pid file of a helper process
/// it forks (keepalived's VRRP child), killed too.
pub struct Proc {
    pub child: Child,
    pub helper: Option<(PathBuf, String)>,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The helper's pid, if its pid file names a live process whose command line holds
    /// the marker (so a stale file cannot make us signal someone else's process).
    pub fn helper_pid(&self) -> Option<i32> {
        let (file, marker) = self.helper.as_ref()?;
        let pid: i32 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains(marker.as_str())
            .then_some(pid)
    }

    /// SIGKILL: the parent is stopped first so it can neither respawn its helper nor hand
    /// over gracefully, as in a crash.
    pub fn crash(&mut self) {
        // SAFETY: signals to our own child and to its helper, checked by helper_pid.
        unsafe { libc::kill(self.pid(), libc::SIGSTOP) };
        if let Some(h) = self.helper_pid() {
            unsafe { libc::kill(h, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.crash();
        } else if let Some(h) = self.helper_pid() {
            // SAFETY: the helper of our own child, checked by helper_pid.
            unsafe { libc::kill(h, libc::SIGKILL) };
        }
    }
}
