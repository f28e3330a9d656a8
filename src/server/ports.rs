//! The listen ports as memcached's test harness sees them: `-p -1` / `-U -1` pick a free
//! port before the shards start (every shard then binds that one port), and the ports in use
//! are written to `$MEMCACHED_PORT_FILENAME` once the listeners are up.

use crate::config::{Config, Ephemeral};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, UdpSocket};

/// Replaces a `-1` port with one the kernel finds free on the first listen address. The
/// port is released again before the shards bind it with SO_REUSEPORT (a socket without
/// that option would keep them out), so another process could take it in between; the
/// probe binds that follow would then report it.
pub fn pick(cfg: &mut Config) -> std::io::Result<()> {
    let Some(&ip) = cfg.listen.first() else {
        return Ok(());
    };
    let Ephemeral { tcp, udp } = cfg.compat.ephemeral;
    if tcp && cfg.compat.unix_socket.is_none() {
        cfg.port = TcpListener::bind(SocketAddr::new(ip, 0))?
            .local_addr()?
            .port();
    }
    if udp && cfg.compat.unix_socket.is_none() {
        cfg.compat.udp_port = UdpSocket::bind(SocketAddr::new(ip, 0))?
            .local_addr()?
            .port();
    }
    cfg.compat.ephemeral = Ephemeral::default();
    Ok(())
}

/// memcached's `MEMCACHED_PORT_FILENAME`: one `TCP INET: port` (or `INET6`, `UDP`) line per
/// socket, written beside the file and renamed into place, so a reader sees all or nothing.
pub fn write_file(cfg: &Config) {
    let Some(path) = std::env::var_os("MEMCACHED_PORT_FILENAME") else {
        return;
    };
    let mut text = Vec::new();
    let tcp = cfg.listen_addrs().into_iter().map(|a| ("TCP", a));
    for (kind, addr) in tcp.chain(cfg.udp_addrs().into_iter().map(|a| ("UDP", a))) {
        let family = if addr.is_ipv6() { "INET6" } else { "INET" };
        let _ = writeln!(text, "{kind} {family}: {}", addr.port());
    }
    let mut tmp = path.clone();
    tmp.push(".lck");
    let written = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::warn!("failed to write the port file {path:?}: {e}");
    }
}
