//! A client connection's socket: TCP, TLS over TCP (`-Z`), the unix socket of `-s`, or one
//! UDP request's payload (`Datagram`). The connection loop reads and writes through this one
//! type, so every protocol works over all four.

use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::server::TlsStream;
use glommio::net::{TcpStream, UnixStream};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub enum Stream {
    Tcp(TcpStream),
    /// Boxed: rustls's connection state is several kilobytes, which a plain connection
    /// should not carry. Its handshake is done (`server::tls::serve`).
    Tls(Box<TlsStream<TcpStream>>),
    Unix(UnixStream),
    Datagram(Datagram),
}

/// A UDP request's payload seen as a stream: its bytes, then the end; what the front end
/// writes is kept for the UDP listener to frame into datagrams.
#[derive(Default)]
pub struct Datagram {
    pub input: Vec<u8>,
    pub pos: usize,
    pub out: Vec<u8>,
    /// `udp:<local address>`, for `stats conns`.
    pub name: String,
}

impl Stream {
    /// The TCP socket under a TCP or TLS stream.
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Tls(s) => Some(s.get_ref().0),
            Stream::Unix(_) | Stream::Datagram(_) => None,
        }
    }

    /// The socket another shard may write an answer to itself (`server::handoff`): plain
    /// TCP only. Not TLS, whose records only this connection can make, nor a datagram;
    /// glommio's unix stream does not expose its socket.
    pub fn raw_fd(&self) -> Option<RawFd> {
        match self {
            Stream::Tcp(s) => Some(s.as_raw_fd()),
            Stream::Tls(_) | Stream::Unix(_) | Stream::Datagram(_) => None,
        }
    }

    /// What `stats conns` shows as the connection's `addr` and `listen_addr`.
    pub fn names(&self, unix_path: Option<&str>) -> (String, String) {
        let unknown = || ([0, 0, 0, 0], 0).into();
        match self {
            Stream::Tcp(_) | Stream::Tls(_) => {
                let s = self.tcp().expect("a TCP stream");
                let peer = s.peer_addr().unwrap_or_else(|_| unknown());
                let local = s.local_addr().unwrap_or_else(|_| unknown());
                (format!("tcp:{peer}"), format!("tcp:{local}"))
            }
            Stream::Unix(_) => {
                let path = unix_path.unwrap_or("");
                (format!("unix:{path}"), format!("unix:{path}"))
            }
            Stream::Datagram(d) => (d.name.clone(), d.name.clone()),
        }
    }

    /// Ends a TLS session as memcached does, with a close_notify, so the client reads an
    /// end rather than a reset. One attempt: a client that does not read cannot hold us.
    pub async fn end(&mut self) {
        if let Stream::Tls(s) = self {
            let _ = futures_lite::future::poll_once(futures_lite::AsyncWriteExt::close(s)).await;
        }
    }

    /// Prepares a new client socket: no Nagle delay on TCP, and memcached's idle timeout
    /// (TCP only: glommio's unix streams have no read timeout).
    pub fn set_up(&self, idle_secs: u64) {
        if let Some(s) = self.tcp() {
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
            Stream::Tls($s) => $call,
            Stream::Unix($s) => $call,
            Stream::Datagram(_) => unreachable!("a datagram is handled before forwarding"),
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if let Stream::Datagram(d) = self.as_mut().get_mut() {
            let n = buf.len().min(d.input.len() - d.pos);
            buf[..n].copy_from_slice(&d.input[d.pos..d.pos + n]);
            d.pos += n;
            return Poll::Ready(Ok(n));
        }
        forward!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Stream::Datagram(d) = self.as_mut().get_mut() {
            d.out.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        forward!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Stream::Datagram(_) = self.as_ref().get_ref() {
            return Poll::Ready(Ok(()));
        }
        forward!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Stream::Datagram(_) = self.as_ref().get_ref() {
            return Poll::Ready(Ok(()));
        }
        forward!(self, s => Pin::new(s).poll_close(cx))
    }
}
