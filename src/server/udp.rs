//! memcached's `-U` listener: every shard binds each listen address's UDP port with
//! SO_REUSEPORT (the kernel spreads datagrams by sender), runs each request datagram through
//! the front ends like a connection's read, and sends the replies back framed as memcached
//! frames them (`protocol::udp`). Keys owned by other shards go through the same batches.

use super::conn::Datagrams;
use super::shard::Shard;
use crate::config::Config;
use crate::protocol::udp;
use glommio::net::UdpSocket;
use std::net::SocketAddr;
use std::rc::Rc;

/// The largest datagram UDP carries; a request is read whole.
const MAX_REQUEST: usize = 65536;

/// Binds every UDP address of the configuration on this shard and serves it until shutdown.
pub fn listen(shard: &Rc<Shard>) -> Result<(), String> {
    for addr in shard.cfg().udp_addrs() {
        let sock =
            bind(addr).map_err(|e| format!("failed to listen on UDP port {}: {e}", addr.port()))?;
        glommio::spawn_local(serve(shard.clone(), sock, addr)).detach();
    }
    Ok(())
}

/// Before the shards start: fails if another process holds a UDP address (the shards bind
/// with SO_REUSEPORT, which would share it silently).
pub fn probe(cfg: &Config) -> Result<(), String> {
    for addr in cfg.udp_addrs() {
        std::net::UdpSocket::bind(addr).map_err(|e| {
            format!(
                "failed to listen on UDP port {} at {}: {e}",
                addr.port(),
                addr.ip()
            )
        })?;
    }
    Ok(())
}

/// A socket shared by every shard's listener, as the TCP port is.
fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::os::unix::io::{FromRawFd, IntoRawFd};
    let domain = match addr {
        SocketAddr::V4(_) => Domain::IPV4,
        SocketAddr::V6(_) => Domain::IPV6,
    };
    let sk = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    sk.set_reuse_port(true)?;
    sk.bind(&addr.into())?;
    // SAFETY: the fd is a freshly bound UDP socket that we hand over whole.
    Ok(unsafe { UdpSocket::from_raw_fd(sk.into_raw_fd()) })
}

/// The name `stats conns` gives a UDP socket, as memcached prints it.
fn name(addr: SocketAddr) -> String {
    format!("udp:{addr}")
}

async fn serve(shard: Rc<Shard>, sock: UdpSocket, addr: SocketAddr) {
    let mut front = Datagrams::new(shard.clone(), name(addr));
    let mut buf = vec![0u8; MAX_REQUEST];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                // Not expected on a bound UDP socket; a pause keeps a lasting error from
                // spinning the shard.
                tracing::warn!("udp receive on {addr}: {e}");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if shard.shared.shutting_down() {
            return;
        }
        let Some((id, payload)) = udp::request(&buf[..n]) else {
            continue;
        };
        let out = front.answer(payload).await;
        let mut datagrams = Vec::new();
        for unit in udp::units(payload, &out) {
            udp::frames(id, &out[unit], |d| datagrams.push(d.to_vec()));
        }
        for d in datagrams {
            // A reply the sender cannot take is lost, as UDP replies may be.
            if let Err(e) = sock.send_to(&d, peer).await {
                tracing::debug!("udp send to {peer}: {e}");
            }
        }
    }
}
