//! Process resource limits the server needs before its shards start: locked memory for
//! io_uring, and file descriptors for `-c` connections plus what the shards hold themselves.

/// Descriptors the process holds apart from client connections: per shard its rings,
/// eventfds, listeners and twin links; and a few for the process itself.
pub fn fd_headroom(shards: usize) -> u64 {
    64 + 16 * shards as u64
}

/// io_uring needs locked memory; a low soft limit is raised to the hard one.
pub fn raise_memlock() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) == 0 && lim.rlim_cur < 512 * 1024 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim);
        }
    }
}

/// Makes room for `conns` client connections, as memcached does for `-c`: raises the soft
/// RLIMIT_NOFILE (and the hard one, where the process may), or refuses to start, since a
/// server that runs out of descriptors at its advertised limit hangs new clients instead.
pub fn raise_nofile(conns: usize, shards: usize) -> Result<(), String> {
    let need = conns as u64 + fd_headroom(shards);
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err("failed to getrlimit number of files".into());
        }
        if lim.rlim_cur >= need {
            return Ok(());
        }
        lim.rlim_cur = need;
        lim.rlim_max = lim.rlim_max.max(need);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(format!(
                "failed to set rlimit for open files to {need} (-c {conns} plus {} for the \
                 server itself). Try starting as root or requesting smaller maxconns value.",
                fd_headroom(shards)
            ));
        }
    }
    Ok(())
}
