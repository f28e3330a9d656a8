//! Startup and shutdown: one pinned glommio executor per shard, joined by two channel
//! meshes (requests, replies), each binding the listen port with SO_REUSEPORT.

use super::conn;
use super::router::{Reply, Request};
use super::shard::{Reclaim, Shard, Shared};
use super::spread::Moved;
use super::{lifecycle, limits, metrics_http, ports, signals, tls, udp, unix_socket};
use crate::config::Config;
use crate::config::ListenTls;
use crate::storage::{Store, StoreConfig};
use futures_lite::AsyncReadExt;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::channels::local_channel::{self, LocalReceiver};
use glommio::channels::shared_channel::ConnectedReceiver;
use glommio::net::{TcpListener, UnixStream};
use glommio::{LocalExecutorBuilder, Placement};
use std::os::unix::io::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// EX_OSERR: what memcached exits with when it cannot listen.
pub const EXIT_OSERR: i32 = 71;
/// EX_NOUSER: what memcached exits with when the -u user does not exist.
pub const EXIT_NOUSER: i32 = 67;
/// How often the expiry reclaim steps while requests arrive and it finds dead items.
const RECLAIM_EVERY: Duration = Duration::from_millis(10);
/// The longest pause it backs off to while its steps find nothing: a walk of the LRU
/// costs a cache miss per item, which a cache of items without a TTL pays for nothing.
const RECLAIM_MAX: Duration = Duration::from_secs(1);
/// Items examined per step by the expiry reclaim.
const RECLAIM_BUDGET: usize = 500;
/// Items an `lru_crawler crawl` examines per step (memcached's crawler sleeps
/// `lru_crawler_sleep` after each 1,000 too): well under a millisecond of the shard.
const CRAWL_BUDGET: usize = 1_000;
const MESH_CAPACITY: usize = 1024;

/// Runs the server until SIGINT/SIGTERM (or `shutdown`); returns the exit status.
pub fn run(mut cfg: Config) -> i32 {
    if let Err(msg) = prepare(&mut cfg) {
        fatal(&msg);
        return EXIT_OSERR;
    }
    abort_on_panic();
    // Before privileges are dropped: key files are often readable by root alone.
    let tls = match tls::TlsServer::start(&cfg) {
        Ok(t) => t,
        Err(msg) => {
            fatal(&msg);
            return crate::config::EXIT_USAGE;
        }
    };
    if let Err((msg, status)) = drop_privileges(cfg.user.as_deref()) {
        fatal(&msg);
        return status;
    }
    let signals = signals::block();
    let (mut shared, stop_rx) = match Shared::new(cfg.clone()) {
        Ok(s) => s,
        Err(e) => {
            fatal(&format!("failed to create the shards' stop sockets: {e}"));
            return EXIT_OSERR;
        }
    };
    shared.tls = tls;
    let shared = Arc::new(shared);
    signals::spawn_thread(signals, shared.clone());
    let handles = match spawn_shards(&cfg, &shared, stop_rx) {
        Ok(h) => h,
        Err(msg) => {
            fatal(&msg);
            return EXIT_OSERR;
        }
    };
    let mut status = 0;
    for h in handles {
        let failure = match h.join() {
            Ok(Ok(())) => continue,
            Ok(Err(msg)) => msg,
            Err(e) => format!("shard failed: {e}"),
        };
        fatal(&failure);
        lifecycle::stop(&shared, "a shard failed");
        status = EXIT_OSERR;
    }
    lifecycle::exited(&shared, status);
    status
}

/// A panic anywhere ends the process. A shard whose thread died would leave its keys'
/// requests waiting forever on the others' connections; a crash is what memcached's
/// users and `Restart=on-failure` expect instead, and it shows in tests.
fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        eprintln!("error: a thread panicked; aborting (a shard cannot be restarted alone)");
        std::process::abort();
    }));
}

/// A fatal error, as one line in the style of the command line's (`error: ...`).
fn fatal(msg: &str) {
    match msg.strip_prefix("error: ") {
        Some(m) => eprintln!("error: {m}"),
        None => eprintln!("error: {msg}"),
    }
}

/// What must hold before any shard starts: the ports are ours, the pid file is written.
/// (Privileges are dropped after it, by `run`.)
fn prepare(cfg: &mut Config) -> Result<(), String> {
    if let Some(path) = &cfg.compat.unix_socket {
        unix_socket::prepare(path);
    }
    ports::pick(cfg).map_err(|e| format!("failed to find a free port: {e}"))?;
    udp::probe(cfg)?;
    for addr in cfg
        .listen_addrs()
        .into_iter()
        .filter(|_| cfg.compat.unix_socket.is_none())
    {
        // glommio binds with SO_REUSEPORT, which would silently share a port another
        // process already serves: probe it plainly first.
        probe_bind(addr).map_err(|e| {
            format!(
                "failed to listen on TCP port {} at {}: {e}",
                cfg.port,
                addr.ip()
            )
        })?;
    }
    if let Some(rc) = &cfg.repl {
        probe_bind(rc.listen)
            .map_err(|e| format!("failed to listen for replication on {}: {e}", rc.listen))?;
    }
    if let Some(addr) = cfg.metrics_listen {
        probe_bind(addr).map_err(|e| format!("failed to listen for metrics on {addr}: {e}"))?;
    }
    limits::raise_memlock();
    limits::raise_nofile(cfg.conn_limit, cfg.shards)?;
    if let Some(path) = &cfg.pidfile {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|e| format!("failed to write pid file {path}: {e}"))?;
    }
    Ok(())
}

type ShardHandle = glommio::ExecutorJoinHandle<Result<(), String>>;

/// One pinned executor per shard, joined by the request and reply meshes.
fn spawn_shards(
    cfg: &Config,
    shared: &Arc<Shared>,
    stop_rx: Vec<std::os::unix::net::UnixStream>,
) -> Result<Vec<ShardHandle>, String> {
    let req_mesh = MeshBuilder::<Request, _>::full(cfg.shards, MESH_CAPACITY);
    let rep_mesh = MeshBuilder::<Vec<Reply>, _>::full(cfg.shards, MESH_CAPACITY);
    let mut handles = Vec::new();
    for (i, stop) in stop_rx.into_iter().enumerate() {
        let placement = match &cfg.cpus {
            Some(cpus) => Placement::Fixed(cpus[i]),
            None => Placement::Unbound,
        };
        let mut builder = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{i}"))
            .io_memory(1 << 20);
        if cfg.spin_before_park_us > 0 {
            builder = builder.spin_before_park(Duration::from_micros(cfg.spin_before_park_us));
        }
        let (shared, req_mesh, rep_mesh) = (shared.clone(), req_mesh.clone(), rep_mesh.clone());
        let h = builder
            .spawn(move || shard_main(shared, req_mesh, rep_mesh, stop))
            .map_err(|e| format!("failed to start shard {i}: {e}"))?;
        handles.push(h);
    }
    Ok(handles)
}

async fn shard_main(
    shared: Arc<Shared>,
    req_mesh: MeshBuilder<Request, glommio::channels::channel_mesh::Full>,
    rep_mesh: MeshBuilder<Vec<Reply>, glommio::channels::channel_mesh::Full>,
    stop: std::os::unix::net::UnixStream,
) -> Result<(), String> {
    // SAFETY: a connected, non-blocking Unix socket handed over whole.
    let mut stop = unsafe { UnixStream::from_raw_fd(stop.into_raw_fd()) };
    if shared.cfg.sched_batch {
        sched_batch();
    }
    let (req_tx, mut req_rx) = req_mesh.join().await.map_err(|_| "mesh join failed")?;
    let (rep_tx, mut rep_rx) = rep_mesh.join().await.map_err(|_| "mesh join failed")?;
    let cfg = &shared.cfg;
    let store = Store::new(StoreConfig {
        mem_limit: cfg.shard_memory(),
        page_size: cfg.page_size(),
        min_chunk: cfg.min_chunk,
        growth_factor: cfg.growth_factor,
        max_item_size: cfg.max_item_size,
        evictions: cfg.evictions,
        cas: cfg.cas,
        node_id: 0,
    })
    .map_err(|e| format!("error: {e}"))?;
    let (reclaim_tx, reclaim_rx) = local_channel::new_bounded(1);
    let (flush_tx, flush_rx) = local_channel::new_bounded(1);
    let (hold_tx, hold_rx) = local_channel::new_bounded(1);
    let shard = Rc::new(Shard::new(
        store,
        shared.clone(),
        req_tx,
        rep_tx,
        reclaim_tx,
        flush_tx,
        hold_tx,
    ));
    shard.store.borrow_mut().set_shard_index(shard.id as u8);
    super::twin::start(&shard)?;
    glommio::spawn_local(reclaim_loop(shard.clone(), reclaim_rx)).detach();
    glommio::spawn_local(shard.clone().flush_loop(flush_rx)).detach();
    glommio::spawn_local(serve_moved(shard.clone())).detach();
    if cfg.tick_hold_us > 0 {
        let every = Duration::from_micros(cfg.tick_hold_us);
        glommio::spawn_local(tick_hold_loop(shard.clone(), hold_rx, every)).detach();
    }

    for (from, stream) in req_rx.streams() {
        glommio::spawn_local(serve_requests(shard.clone(), from, stream)).detach();
    }
    for (_, stream) in rep_rx.streams() {
        let shard = shard.clone();
        glommio::spawn_local(async move {
            while let Some(mut replies) = stream.recv().await {
                for reply in replies.drain(..) {
                    shard.deliver(reply);
                }
                shard.spare_replies.give(replies);
            }
        })
        .detach();
    }
    listen(&shard)?;
    if shard.id == 0 {
        // Shard 0's listeners serve, and every shard joined the meshes before it.
        lifecycle::started(shard.cfg());
    }
    let unix = shard.cfg().compat.unix_socket.as_deref();

    // Sleeps until `Shared::stop` ends the socket (or it fails, which stops us too).
    let _ = stop.read(&mut [0u8; 1]).await;
    lifecycle::drain(&shard).await;
    if let (Some(path), 0) = (unix, shard.id) {
        unix_socket::remove(path);
    }
    Ok(())
}

/// This thread runs SCHED_BATCH (`--shard-sched`): when it is woken, it waits for the
/// thread on its CPU to sleep or use up its slice instead of preempting it. Shards that
/// share a CPU then take turns that end where each has nothing left to do, not where the
/// other's client wrote; one preempted in the middle of a turn costs two more switches,
/// and its peers wait on what it had not yet sent (docs/scaling.md).
fn sched_batch() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: this thread, a plain struct the call only reads.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!("cannot run the shard SCHED_BATCH: {e}");
    }
}

/// Runs the batches shard `from` sends, in order, and replies to those that wait for one:
/// a handed-off request's answer goes to the client instead, waking nobody.
async fn serve_requests(shard: Rc<Shard>, from: usize, stream: ConnectedReceiver<Request>) {
    while let Some(req) = stream.recv().await {
        let mut replies = shard.spare_replies.take();
        for (conn, batch) in &req.batches {
            match &batch.handoff {
                Some(to) => shard.answer_handed(from, *conn, batch, to),
                None => replies.push(shard.execute_batch(from, *conn, batch)),
            }
        }
        shard.spare_queues.give(req.batches);
        if replies.is_empty() {
            shard.spare_replies.give(replies);
        } else {
            // The asking connections wait for these replies, and their clients for the
            // answers: the asker's wake is not held back (glommio patch 21).
            let send = shard.rep_tx.send_to(req.reply_to, replies);
            let _ = glommio::channels::prompt_wake(send).await;
        }
    }
}

/// The client listeners: TCP on every shard, or the unix socket on shard 0; UDP with -U.
fn listen(shard: &Rc<Shard>) -> Result<(), String> {
    let compat = &shard.cfg().compat;
    let unix = compat.unix_socket.as_deref();
    // As in memcached, -s replaces the TCP listeners.
    for (addr, mode) in shard
        .cfg()
        .tcp_listeners()
        .into_iter()
        .filter(|_| unix.is_none())
    {
        let listener = bind_listener_backlog(addr, compat.backlog)
            .map_err(|e| format!("failed to listen on TCP port {}: {e}", addr.port()))?;
        glommio::spawn_local(accept_loop(shard.clone(), listener, mode)).detach();
    }
    if let (Some(path), 0) = (unix, shard.id) {
        unix_socket::listen(shard, path, compat.unix_mask)?;
    }
    udp::listen(shard)?;
    if let (Some(addr), 0) = (shard.cfg().metrics_listen, shard.id) {
        metrics_http::listen(shard, addr)?;
    }
    if shard.id == 0 {
        ports::write_file(shard.cfg());
    }
    Ok(())
}

/// The LRU crawler, run as work arrives rather than on a tick: woken by the first
/// request after a quiet spell, it steps the expiry reclaim every [`RECLAIM_EVERY`] while
/// requests keep coming, doubling the pause up to [`RECLAIM_MAX`] while its steps free
/// nothing, and stops after a quiet step that freed nothing, leaving no timer armed. (Lookups and allocation drop expired items they meet in any case.) An
/// `lru_crawler crawl` job on this shard steps every `lru_crawler_sleep` until done. With
/// the crawler disabled only a job runs, as memcached's crawler thread then stops.
async fn reclaim_loop(shard: Rc<Shard>, wake: LocalReceiver<()>) {
    let crawler = &shard.shared.crawler;
    while wake.recv().await.is_some() {
        let mut pause = RECLAIM_EVERY;
        let mut every = RECLAIM_EVERY;
        let mut next_reclaim = Instant::now();
        loop {
            glommio::timer::sleep(pause).await;
            let was = shard.reclaim.replace(Reclaim::Quiet);
            shard.read_clock();
            let mut store = shard.store.borrow_mut();
            let mut freed = 0;
            if crawler.enabled() && Instant::now() >= next_reclaim {
                freed = store.reclaim_step(RECLAIM_BUDGET);
                every = match freed {
                    0 => (every * 2).min(RECLAIM_MAX),
                    _ => RECLAIM_EVERY,
                };
                next_reclaim = Instant::now() + every;
            }
            if store.crawling() && !store.crawl_step(CRAWL_BUDGET) {
                crawler.part_done();
            }
            let crawling = store.crawling();
            drop(store);
            if was == Reclaim::Quiet && freed == 0 && !crawling {
                shard.reclaim.set(Reclaim::Idle);
                break;
            }
            pause = match crawling {
                true => Duration::from_micros(crawler.sleep_us.load(Ordering::Relaxed).into())
                    .max(Duration::from_micros(10)),
                false => every,
            };
        }
    }
}

/// The tick hold: while requests keep coming, a timer is kept pending within `every`.
/// A shard that goes to sleep for a few tens of microseconds between requests otherwise
/// finds no timer due within the kernel's tick period, so the kernel stops the tick as the
/// core goes idle and starts it again when the core wakes: two writes of the core's timer
/// deadline per request, which in a VM can be slow (a median 13 µs apiece on this
/// project's test host, section 9 of docs/benchmarks.md). A timer due sooner than the
/// next tick keeps the tick running instead. It stops after a period with no request, so
/// an idle shard has no timer armed, as before.
async fn tick_hold_loop(shard: Rc<Shard>, wake: LocalReceiver<()>, every: Duration) {
    while wake.recv().await.is_some() {
        loop {
            glommio::timer::sleep(every).await;
            if shard.hold.replace(Reclaim::Quiet) == Reclaim::Quiet {
                shard.hold.set(Reclaim::Idle);
                break;
            }
        }
    }
}

async fn accept_loop(shard: Rc<Shard>, listener: TcpListener, mode: ListenTls) {
    let shared = shard.shared.clone();
    let mut backoff = AcceptBackoff::default();
    loop {
        let stream = match listener.shared_accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait for connections to close
                // instead of spinning and logging every failed attempt.
                glommio::timer::sleep(backoff.failed(shard.id, &e)).await;
                continue;
            }
        };
        backoff.succeeded(shard.id);
        if shared.shutting_down() {
            // An accepted socket is a bare fd until bound: bound and dropped, it closes.
            drop(stream.bind_to_executor());
            return;
        }
        place(&shard, Moved::Tcp(stream, mode));
    }
}

/// Serves a connection this shard accepted here, or hands it to the shard with the fewest
/// (`server::spread`).
pub(super) fn place(shard: &Rc<Shard>, conn: Moved) {
    match shard.shared.spread.choose(shard.id) {
        to if to == shard.id => admit(shard, conn),
        to => shard.shared.spread.send(to, conn),
    }
}

/// Serves the connections other shards placed on this one, until the server stops.
async fn serve_moved(shard: Rc<Shard>) {
    loop {
        let conns = futures_lite::future::poll_fn(|cx| shard.shared.spread.poll_take(shard.id, cx));
        for conn in conns.await {
            admit(&shard, conn);
        }
    }
}

/// Serves a new client, or answers and closes it over the -c limit.
fn admit(shard: &Rc<Shard>, conn: Moved) {
    match conn {
        Moved::Tcp(tcp, mode) => {
            let tls = tls::acceptor(shard, mode);
            admit_with(shard, conn::Stream::Tcp(tcp.bind_to_executor()), tls);
        }
        Moved::Unix(unix) => admit_with(shard, conn::Stream::Unix(unix.bind_to_executor()), None),
    }
}

/// `admit`, with the TLS handshake first when the listener speaks TLS. Over the limit the
/// refusal goes out in plain text, before any handshake, as memcached sends it.
fn admit_with(shard: &Rc<Shard>, stream: conn::Stream, tls: Option<Arc<rustls::ServerConfig>>) {
    let shared = &shard.shared;
    let n = shared.conns.fetch_add(1, Ordering::Relaxed);
    if n >= shared.cfg.conn_limit {
        shared.conn_ended(shard.id);
        glommio::spawn_local(conn::reject(shard.clone(), stream)).detach();
        return;
    }
    match (tls, stream) {
        (Some(c), conn::Stream::Tcp(tcp)) => {
            glommio::spawn_local(tls::serve(shard.clone(), tcp, c)).detach();
        }
        (_, stream) => {
            glommio::spawn_local(conn::serve(shard.clone(), stream)).detach();
        }
    }
}

/// Fails if another process holds `addr`. Binds without listening, so no client can
/// connect to the probe and then find it gone before the real listeners are up.
fn probe_bind(addr: std::net::SocketAddr) -> std::io::Result<()> {
    new_socket(addr)?.bind(&addr.into())
}

fn new_socket(addr: std::net::SocketAddr) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sk = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sk.set_reuse_address(true)?;
    Ok(sk)
}

/// A listening socket shared by every shard (SO_REUSEPORT) that can also be rebound at
/// once after a crash (SO_REUSEADDR: connections of the dead process linger in TIME_WAIT).
pub fn bind_listener(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    bind_listener_backlog(addr, 1024)
}

/// `bind_listener` with memcached's -b backlog.
fn bind_listener_backlog(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    use std::os::unix::io::{FromRawFd, IntoRawFd};
    let sk = new_socket(addr)?;
    sk.set_reuse_port(true)?;
    sk.bind(&addr.into())?;
    sk.listen(backlog.min(i32::MAX as u32) as i32)?;
    // SAFETY: the fd is a freshly bound, listening TCP socket that we hand over whole.
    Ok(unsafe { TcpListener::from_raw_fd(sk.into_raw_fd()) })
}

/// memcached's -u: when started as root, become `user` before serving. Not root: ignored.
fn drop_privileges(user: Option<&str>) -> Result<(), (String, i32)> {
    // SAFETY: getuid has no preconditions.
    let (Some(user), 0) = (user, unsafe { libc::getuid() }) else {
        return Ok(());
    };
    let name = std::ffi::CString::new(user)
        .map_err(|_| (format!("-u: bad user name {user:?}"), EXIT_NOUSER))?;
    // SAFETY: getpwnam reads a NUL-terminated name; the result is checked for NULL and read
    // before any other call that could overwrite it.
    let (uid, gid) = unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return Err((
                format!("-u: can't find the user {user} to switch to"),
                EXIT_NOUSER,
            ));
        }
        ((*pw).pw_uid, (*pw).pw_gid)
    };
    // SAFETY: plain syscalls; group first, while we still may change it.
    if unsafe {
        libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
    } {
        return Err((
            format!("-u: failed to assume the identity of {user}"),
            EXIT_OSERR,
        ));
    }
    Ok(())
}

/// How long to wait after accept fails, doubling while it keeps failing; one log line when
/// accepting stops and one when it resumes, not one per attempt.
#[derive(Default)]
struct AcceptBackoff {
    failures: u64,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_millis(500);

    fn failed(&mut self, shard: usize, e: &dyn std::fmt::Display) -> Duration {
        if self.failures == 0 {
            tracing::warn!("shard {shard}: accept failed ({e}); retrying with backoff");
        }
        self.failures += 1;
        let doublings = (self.failures - 1).min(6) as u32;
        (Self::FIRST * 2u32.pow(doublings)).min(Self::MAX)
    }

    fn succeeded(&mut self, shard: usize) {
        if self.failures > 0 {
            tracing::warn!(
                "shard {shard}: accepting again after {} failed attempts",
                self.failures
            );
            self.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_to_a_cap_and_resets() {
        let mut b = AcceptBackoff::default();
        let e = std::io::Error::from_raw_os_error(libc::EMFILE);
        let waits: Vec<u64> = (0..9).map(|_| b.failed(0, &e).as_millis() as u64).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 500, 500, 500]);
        b.succeeded(0);
        assert_eq!(b.failed(0, &e), AcceptBackoff::FIRST);
    }
}
