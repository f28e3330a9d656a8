//! The `corecached` binary: parse the command line, set up logging, run the shards.

use corecached::config::{self, EXIT_USAGE, Parsed};

fn main() {
    // Read the cores before any executor starts: pinning changes what later calls see.
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let cfg = match config::parse_args(std::env::args_os(), &available) {
        Parsed::Run(cfg) => cfg,
        Parsed::Print(text) => {
            print!("{text}");
            return;
        }
        Parsed::Fail(msg) => {
            eprintln!("{msg}");
            std::process::exit(EXIT_USAGE);
        }
        Parsed::FailWith(msg, status) => {
            eprintln!("{msg}");
            std::process::exit(status);
        }
    };
    // Before any thread exists: fork keeps only the calling thread.
    if cfg.compat.daemonize {
        daemonize();
    }
    init_logging(cfg.verbose);
    log_compat(&cfg);
    std::process::exit(corecached::server::run(*cfg));
}

/// Warnings by default, plus the startup line and the stop's phases (`lifecycle`), which
/// an operator wants in the journal without -v. Colour only on a terminal: a log file or
/// the journal would otherwise hold escape codes.
fn init_logging(verbose: u8) {
    use std::io::IsTerminal;
    let lifecycle = corecached::server::lifecycle::TARGET;
    let level = match verbose {
        0 => format!("warn,{lifecycle}=info"),
        1 => "info".into(),
        2 => "debug".into(),
        _ => "trace".into(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// memcached's -d: fork, the parent exits 0, the child leaves the terminal's session and
/// points its standard streams at /dev/null.
fn daemonize() {
    // SAFETY: no other thread exists yet; fork, setsid, open and dup2 have no preconditions
    // beyond valid arguments.
    unsafe {
        match libc::fork() {
            -1 => {
                eprintln!("failed to daemon() in order to daemonize");
                std::process::exit(71);
            }
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
}

/// Says which memcached options were taken without effect, and honours -k.
fn log_compat(cfg: &config::Config) {
    let c = &cfg.compat;
    if !c.ext.ignored.is_empty() {
        tracing::info!(
            "accepted without effect here: -o {}",
            c.ext.ignored.join(",")
        );
    }
    if let Some(asked) = c.threads_asked {
        tracing::warn!(
            "-m {} MB is under 2 MB per shard for {asked} shards: running {} shards",
            cfg.memory_limit >> 20,
            cfg.shards
        );
    }
    // SAFETY: mlockall takes flags only.
    if c.lock_memory && unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        tracing::warn!(
            "-k: failed to lock memory: {}",
            std::io::Error::last_os_error()
        );
    }
}
