//! `--metrics-listen`: a minimal HTTP/1.1 server on shard 0 for Prometheus's `GET /metrics`.
//! A scrape gathers the shards' snapshots the way `stats` does (one message per shard, each
//! answered between that shard's batches), so it never holds up store work. Hand-written
//! because no HTTP crate runs on glommio's sockets; it reads one request head and closes.

use super::conn::process_info;
use super::runtime::bind_listener;
use super::shard::Shard;
use crate::protocol::op::Op;
use crate::stats::prometheus::{self, CONTENT_TYPE, Replication};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel;
use glommio::net::{TcpListener, TcpStream};
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// A request head longer than this is refused: a scrape's is a few hundred bytes.
const MAX_HEAD: usize = 8 << 10;
/// A client that sends no complete head in this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes served at once; more are closed unanswered.
const MAX_OPEN: usize = 8;

/// Binds `addr` and serves it from this shard until shutdown.
pub fn listen(shard: &Rc<Shard>, addr: SocketAddr) -> Result<(), String> {
    let listener =
        bind_listener(addr).map_err(|e| format!("failed to listen for metrics on {addr}: {e}"))?;
    glommio::spawn_local(accept_loop(shard.clone(), listener)).detach();
    Ok(())
}

async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    let open = Rc::new(Cell::new(0usize));
    loop {
        match listener.accept().await {
            Ok(stream) => {
                if shard.shared.shutting_down() {
                    return;
                }
                if open.get() >= MAX_OPEN {
                    continue;
                }
                open.set(open.get() + 1);
                let (shard, open) = (shard.clone(), open.clone());
                glommio::spawn_local(async move {
                    if let Err(e) = serve(&shard, stream).await {
                        tracing::debug!("metrics request: {e}");
                    }
                    open.set(open.get() - 1);
                })
                .detach();
            }
            Err(e) => {
                tracing::warn!("accept on the metrics port failed: {e}");
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// The metrics; `head_only` for a HEAD request.
    Metrics { head_only: bool },
    /// Answered with this status line and no body.
    Status(&'static str),
}

/// Routes a request head (everything up to the blank line).
fn route(head: &[u8]) -> Route {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(b"");
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Route::Status("400 Bad Request");
    };
    if !version.starts_with(b"HTTP/1.") {
        return Route::Status("400 Bad Request");
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or(b"");
    match (method, path) {
        (b"GET", b"/metrics") => Route::Metrics { head_only: false },
        (b"HEAD", b"/metrics") => Route::Metrics { head_only: true },
        (_, b"/metrics") => Route::Status("405 Method Not Allowed"),
        _ => Route::Status("404 Not Found"),
    }
}

/// Where the head ends (just past its blank line), if it has.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    crlf.or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
}

/// Reads the request head; None when the client closed first.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Result<Vec<u8>, ()>>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&buf) {
            buf.truncate(end);
            return Ok(Some(Ok(buf)));
        }
        if buf.len() >= MAX_HEAD {
            return Ok(Some(Err(())));
        }
        match stream.read(&mut chunk).await? {
            0 => return Ok(None),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn serve(shard: &Shard, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let route = match read_head(&mut stream).await? {
        None => return Ok(()),
        Some(Ok(head)) => route(&head),
        Some(Err(())) => Route::Status("431 Request Header Fields Too Large"),
    };
    let mut out = Vec::new();
    match route {
        Route::Metrics { head_only } => {
            let body = scrape(shard).await;
            out.extend_from_slice(headers("200 OK", CONTENT_TYPE, body.len()).as_bytes());
            if !head_only {
                out.extend_from_slice(body.as_bytes());
            }
        }
        Route::Status(status) => {
            let body = format!("{status}\n");
            let mut h = headers(status, "text/plain; charset=utf-8", body.len());
            if status.starts_with("405") {
                h.insert_str(h.len() - 2, "Allow: GET, HEAD\r\n");
            }
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(body.as_bytes());
        }
    }
    stream.write_all(&out).await?;
    stream.close().await
}

fn headers(status: &str, content_type: &str, len: usize) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         Connection: close\r\n\r\n"
    )
}

/// Every shard's snapshot, gathered as `stats` gathers them, rendered.
async fn scrape(shard: &Shard) -> String {
    let (tx, rx) = local_channel::new_unbounded();
    let token = shard.register_waiter(tx);
    // The replication lag is worked out from the shard's clock; an idle shard's is old.
    shard.read_clock();
    let snaps = shard.gather(token, &rx, Op::Stats).await;
    shard.unregister(token);
    let mut body = String::with_capacity(16 << 10);
    let repl = Replication {
        enabled: shard.cfg().repl.is_some(),
    };
    prometheus::write_metrics(&mut body, &process_info(shard), &repl, &snaps);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        let r = |s: &str| route(s.as_bytes());
        let get = Route::Metrics { head_only: false };
        assert_eq!(r("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), get);
        assert_eq!(r("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), get);
        assert_eq!(
            r("HEAD /metrics HTTP/1.1\r\n\r\n"),
            Route::Metrics { head_only: true }
        );
        assert_eq!(
            r("POST /metrics HTTP/1.1\r\n\r\n"),
            Route::Status("405 Method Not Allowed")
        );
        assert_eq!(r("GET / HTTP/1.1\r\n\r\n"), Route::Status("404 Not Found"));
        for bad in [
            "GET /metrics\r\n\r\n",
            "GET /metrics SPDY/3\r\n\r\n",
            "\r\n\r\n",
        ] {
            assert_eq!(r(bad), Route::Status("400 Bad Request"), "{bad:?}");
        }
    }

    #[test]
    fn the_head_ends_at_the_first_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
