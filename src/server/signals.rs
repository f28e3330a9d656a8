//! Signals as memcached takes them: SIGINT, SIGTERM and SIGUSR1 stop the server gracefully,
//! SIGHUP is logged and ignored, SIGPIPE never kills it (a peer that vanishes mid-write is
//! an error on that connection only).

use super::shard::Shared;
use std::sync::Arc;

/// Signals that stop the server: finish in-flight requests, then exit 0.
const STOP: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1];

/// Blocks the signals the signal thread takes in this thread (and so in every thread
/// spawned after), and ignores SIGPIPE.
pub fn block() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local, then process-wide SIGPIPE disposition and
    // pthread_sigmask on this thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in STOP {
            libc::sigaddset(&mut set, sig);
        }
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Takes the blocked signals on a thread of its own until one of them stops the server.
pub fn spawn_thread(set: libc::sigset_t, shared: Arc<Shared>) {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: `set` holds the signals this thread (and all others) blocked.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    return;
                }
                if STOP.contains(&sig) {
                    super::lifecycle::stop(&shared, &super::lifecycle::signal_name(sig));
                    return;
                }
                tracing::info!("signal {sig} ignored, as memcached does");
            }
        })
        .expect("spawning the signal thread");
}
