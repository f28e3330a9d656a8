//! What the operator sees of a start and a stop: the one startup line, and the stop in
//! phases (stop accepting, drain the requests in flight, let the twin acknowledge the last
//! writes, exit), one log line each. These lines log at info under this module's target,
//! which the default log level lets through (see `main`), so a service's journal has them.

use super::shard::{Shard, Shared};
use crate::config::Config;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The log target the default filter lets through at info.
pub const TARGET: &str = module_path!();

/// Process-wide progress of a stop, so each phase is one line however many shards.
#[derive(Default)]
pub struct Stopping {
    began: OnceLock<Instant>,
    /// Connections still mid-request when the drain time ran out, summed over shards.
    cut: AtomicUsize,
    /// Shards past the replication phase, and the writes the twin had not acknowledged.
    repl_done: AtomicUsize,
    unacked: AtomicU64,
    /// Shards whose link to the twin was not streaming (down, or in a full copy) at the end.
    links_down: AtomicUsize,
}

impl Stopping {
    fn began(&self) -> Instant {
        *self.began.get_or_init(Instant::now)
    }
}

/// "corecached 0.1.0 (memcached 1.6.21 protocol): tcp 127.0.0.1:11211, udp off; 2 shards
/// on cpus 0,1; 64 MB; twin none". Every fact a newcomer asks first, after ports are
/// picked, on one line.
pub fn startup_line(cfg: &Config) -> String {
    let tcp = match cfg.listen_addrs() {
        a if a.is_empty() => "tcp off".to_string(),
        a => format!("tcp {}", join(&a)),
    };
    let udp = match cfg.udp_addrs() {
        a if a.is_empty() => "udp off".to_string(),
        a => format!("udp {}", join(&a)),
    };
    let listeners = match &cfg.compat.unix_socket {
        Some(path) => format!("unix socket {path}, {udp}"),
        None => format!("{tcp}, {udp}"),
    };
    let cpus = match &cfg.cpus {
        Some(c) => format!("on cpus {}", join(c)),
        None => "unpinned".into(),
    };
    let twin = match &cfg.repl {
        None => "twin none".to_string(),
        Some(r) => format!(
            "twin {} (replication port {}{})",
            r.twin,
            r.listen,
            if r.secret.is_some() { ", secret" } else { "" }
        ),
    };
    format!(
        "corecached {} (memcached {} protocol): {listeners}; {} shard{} {cpus}; {} MB; {twin}",
        env!("CARGO_PKG_VERSION"),
        super::conn::VERSION.split('-').next().unwrap_or("1.6"),
        cfg.shards,
        if cfg.shards == 1 { "" } else { "s" },
        cfg.memory_limit >> 20,
    )
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Logs the startup line once the listeners serve.
pub fn started(cfg: &Config) {
    tracing::info!(target: TARGET, "{}", startup_line(cfg));
    if cfg.listen_addrs().is_empty()
        && cfg.udp_addrs().is_empty()
        && cfg.compat.unix_socket.is_none()
    {
        tracing::warn!(
            target: TARGET,
            "no client listener: -p 0 turns TCP off and neither -U nor -s gives another"
        );
    }
}

/// Starts the stop, from any thread: the first two phase lines, then `Shared::stop`. `why`
/// names the cause ("SIGTERM", "shutdown command", ...); only the first cause is logged.
pub fn stop(shared: &Shared, why: &str) {
    if shared.shutting_down() {
        return shared.stop();
    }
    shared.stopping.began();
    tracing::info!(target: TARGET, "{why}: stopping; new connections are closed at once");
    tracing::info!(
        target: TARGET,
        "draining {} client connection(s): requests in flight get up to {} s",
        shared.conns.load(Ordering::Relaxed),
        shared.cfg.ops.drain_timeout.as_secs_f64()
    );
    shared.stop();
}

/// One shard's part of the stop. Its connections finish the batch they are in; it then
/// keeps answering other shards' batches until every shard has drained its own, so no
/// connection waits on a shard that has gone; then, with a twin, it waits for the twin to
/// acknowledge this shard's last writes. All of it within the drain time.
pub async fn drain(shard: &Shard) {
    let shared = &shard.shared;
    let stop = &shared.stopping;
    let deadline = stop.began() + shared.cfg.ops.drain_timeout;
    while shard.busy.get() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    stop.cut.fetch_add(shard.busy.get(), Ordering::SeqCst);
    if shared.drained.fetch_add(1, Ordering::SeqCst) + 1 == shard.nshards {
        let took = stop.began().elapsed().as_millis();
        match stop.cut.load(Ordering::SeqCst) {
            0 => {
                tracing::info!(target: TARGET, "drained: every request in flight finished ({took} ms)")
            }
            n => tracing::warn!(
                target: TARGET,
                "drain timeout after {took} ms: {n} connection(s) cut mid-request"
            ),
        }
    }
    while shared.drained.load(Ordering::SeqCst) < shard.nshards && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    // No handoff starts once every shard has drained; the ones made before finish here.
    let handed = || super::handoff::IN_FLIGHT.load(Ordering::SeqCst);
    while handed() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    if shard.id == 0 && handed() > 0 {
        tracing::warn!(
            target: TARGET,
            "drain timeout: {} answer(s) handed to another shard not written whole",
            handed()
        );
    }
    flush_replication(shard, deadline).await;
}

/// Waits (until `deadline`) for the twin to acknowledge every write this shard logged,
/// while the link streams; the last shard through says how it went.
async fn flush_replication(shard: &Shard, deadline: Instant) {
    let Some(repl) = &shard.repl else {
        return;
    };
    use crate::replication::LinkState;
    let unacked = || {
        let last = repl.backlog.borrow().next_seq().saturating_sub(1);
        last.saturating_sub(repl.acked.get())
    };
    repl.wake();
    while unacked() > 0 && repl.link.get() == LinkState::Streaming && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    let stop = &shard.shared.stopping;
    stop.unacked.fetch_add(unacked(), Ordering::SeqCst);
    if repl.link.get() != LinkState::Streaming {
        stop.links_down.fetch_add(1, Ordering::SeqCst);
    }
    if stop.repl_done.fetch_add(1, Ordering::SeqCst) + 1 < shard.nshards {
        return;
    }
    let took = stop.began().elapsed().as_millis();
    let unacked = stop.unacked.load(Ordering::SeqCst);
    match stop.links_down.load(Ordering::SeqCst) {
        0 if unacked == 0 => tracing::info!(
            target: TARGET,
            "replication flushed: the twin acknowledged every write ({took} ms)"
        ),
        down => tracing::warn!(
            target: TARGET,
            "replication not flushed: the twin has not acknowledged {unacked} write(s); \
             {down} of {} shard link(s) not streaming (down or in a full copy); {took} ms",
            shard.nshards
        ),
    }
}

/// The last line of a run.
pub fn exited(shared: &Shared, status: i32) {
    let took = shared.stopping.began.get().map_or(String::new(), |t| {
        format!(" ({} ms after the stop began)", t.elapsed().as_millis())
    });
    tracing::info!(target: TARGET, "exit status {status}{took}");
}

/// memcached's names for the signals that stop it.
pub fn signal_name(sig: libc::c_int) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGUSR1 => "SIGUSR1 (graceful stop)".into(),
        n => format!("signal {n}"),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Parsed, parse_args};

    fn line(args: &[&str]) -> String {
        let mut v = vec!["corecached"];
        v.extend_from_slice(args);
        match parse_args(v, &[0, 1]) {
            Parsed::Run(cfg) => super::startup_line(&cfg),
            _ => panic!("{args:?} did not parse"),
        }
    }

    #[test]
    fn the_startup_line_says_what_a_newcomer_asks() {
        let l = line(&[]);
        assert!(l.starts_with("corecached "), "{l}");
        for part in [
            "tcp 127.0.0.1:11211",
            "udp off",
            "2 shards on cpus 0,1",
            "64 MB",
            "twin none",
        ] {
            assert!(l.contains(part), "{part}: {l}");
        }
        let l = line(&[
            "-t",
            "1",
            "-m",
            "128",
            "-U",
            "11311",
            "-x",
            "127.0.0.1:11214",
        ]);
        for part in [
            "udp 127.0.0.1:11311",
            "1 shard on cpus 0;",
            "128 MB",
            "twin 127.0.0.1:11214",
        ] {
            assert!(l.contains(part), "{part}: {l}");
        }
        assert!(!l.contains('\n'));
    }
}
