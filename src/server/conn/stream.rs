//! A client connection's socket: TCP, or the unix socket of `-s`. The connection loop reads
//! and writes through this one type, so every protocol works over both.

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::{TcpStream, UnixStream};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// What `stats conns` shows as the connection's `addr` and `listen_addr`.
    pub fn names(&self, unix_path: Option<&str>) -> (String, String) {
        let unknown = || ([0, 0, 0, 0], 0).into();
        match self {
            Stream::Tcp(s) => {
                let peer = s.peer_addr().unwrap_or_else(|_| unknown());
                let local = s.local_addr().unwrap_or_else(|_| unknown());
                (format!("tcp:{peer}"), format!("tcp:{local}"))
            }
            Stream::Unix(_) => {
                let path = unix_path.unwrap_or("");
                (format!("unix:{path}"), format!("unix:{path}"))
            }
        }
    }

    /// Prepares a new client socket: no Nagle delay on TCP, and memcached's idle timeout
    /// (TCP only: glommio's unix streams have no read timeout).
    pub fn set_up(&self, idle_secs: u64) {
        if let Stream::Tcp(s) = self {
            let _ = s.set_nodelay(true);
            if idle_secs > 0 {
                let _ = s.set_read_timeout(Some(Duration::from_secs(idle_secs)));
            }
        }
    }
}

/// Forwards a poll method to whichever socket this is.
macro_rules! forward {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $call,
            Stream::Unix($s) => $call,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        forward!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        forward!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self, s => Pin::new(s).poll_close(cx))
    }
}
