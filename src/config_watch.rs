//! memcached's `-W` (`--disable-watch`): `watch` answers `CLIENT_ERROR watch commands not
//! allowed` instead of turning the connection into a log stream. The watchers' buffer
//! sizes are `-o watcher_logbuf_size` and `worker_logbuf_size` (config_options.rs).

/// The `watch` flags, flattened into the command line.
#[derive(clap::Args, Debug)]
pub(super) struct WatchFlags {
    /// Refuse `watch` commands (live logging).
    #[arg(short = 'W', long = "disable-watch")]
    disable_watch: bool,
}

impl WatchFlags {
    /// Whether `watch` may turn a connection into a log stream.
    pub fn enabled(&self) -> bool {
        !self.disable_watch
    }
}
