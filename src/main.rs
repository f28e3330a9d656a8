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
    };
    init_logging(cfg.verbose);
    std::process::exit(corecached::server::run(*cfg));
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
