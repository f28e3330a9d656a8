//! The listen ports: memcached's `-p` and `-U` (0 is off, -1 a free port picked at
//! startup), and the socket addresses they make with `-l`.

use super::Config;
use std::net::SocketAddr;

/// Which ports (`-p -1`, `-U -1`) are to be picked at startup.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ephemeral {
    pub tcp: bool,
    pub udp: bool,
}

/// `-p` or `-U`: 0 is off, -1 a free port (`None`), as memcached takes them.
pub(super) fn port_number(asked: i32, flag: &str) -> Result<Option<u16>, String> {
    match asked {
        -1 => Ok(None),
        0..=65535 => Ok(Some(asked as u16)),
        _ => Err(format!("error: {flag}: port must be between -1 and 65535")),
    }
}

impl Config {
    /// The TCP listen sockets: none with `-p 0`.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.tcp_listeners().into_iter().map(|(a, _)| a).collect()
    }

    /// Where UDP is served: every listen address at the -U port (none with -U 0 or -s).
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        let off = self.compat.udp_port == 0 && !self.compat.ephemeral.udp;
        match (off, &self.compat.unix_socket) {
            (true, _) | (_, Some(_)) => Vec::new(),
            // As memcached: an -l entry's own port is its UDP port too.
            (false, None) => self
                .listeners
                .iter()
                .map(|l| SocketAddr::new(l.ip, l.port.unwrap_or(self.compat.udp_port)))
                .collect(),
        }
    }
}
