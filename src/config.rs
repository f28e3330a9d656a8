//! Command line -> validated [`Config`], with memcached's flag letters. A bad value becomes
//! one clear line and exit status 64 (EX_USAGE), never a panic.

#[path = "config_auth.rs"]
mod auth;
#[path = "config_metrics.rs"]
mod metrics;
#[path = "config_ops.rs"]
mod ops;
#[path = "config_options.rs"]
mod options;
#[path = "config_ports.rs"]
mod ports;
#[path = "config_repl.rs"]
mod repl;
#[path = "config_tls.rs"]
mod tls;
#[path = "config_watch.rs"]
mod watch;
pub use ports::Ephemeral;
use ports::port_number;

pub use auth::{Credentials, Protocol};
use clap::{ArgAction, Parser};
pub use ops::{DEFAULT_DRAIN_SECS, Ops};
pub use options::{EXIT_BAD_OPTION, Extended};
use std::net::{IpAddr, SocketAddr};
pub use tls::{KEYFORMAT_DER, ListenTls, Listener, TlsOptions, TlsVersion};

/// EX_USAGE from sysexits.h, what memcached uses for bad options.
pub const EXIT_USAGE: i32 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "corecached",
    version,
    allow_negative_numbers = true,
    about = "A memcached-compatible cache server: one shard per core, each with its own memory and LRU."
)]
struct Cli {
    /// TCP port to listen on; 0 turns TCP off, -1 takes a free port [default: 11211, or the
    /// -U port when only -U is given, as in memcached].
    #[arg(short = 'p', long = "port", allow_negative_numbers = true)]
    port: Option<i32>,

    /// Interface(s) to listen on, comma separated, each ADDR or ADDR:PORT. Unlike memcached
    /// the default is loopback only: pass 0.0.0.0 to listen on every interface. With -Z, a
    /// 'notls:' prefix serves one listener in plain text (-l notls:<ip>:<port>) and 'mtls:'
    /// requires a verified client certificate on it.
    #[arg(short = 'l', long = "listen", default_value = "127.0.0.1")]
    listen: String,

    /// Item memory in megabytes, split evenly across shards.
    #[arg(short = 'm', long = "memory-limit", default_value_t = 64)]
    memory_limit: i64,

    /// Maximum simultaneous client connections (over it: "ERROR Too many open connections").
    #[arg(short = 'c', long = "conn-limit", default_value_t = 1024)]
    conn_limit: usize,

    /// Number of shards (one thread each). Default: one per available core. More shards
    /// than cores run unpinned.
    #[arg(short = 't', long = "threads")]
    threads: Option<usize>,

    /// CPUs to pin shards to, e.g. "0,2-5". Default: the first N available cores.
    #[arg(long = "cpus")]
    cpus: Option<String>,

    /// Chunk size growth factor between slab classes.
    #[arg(short = 'f', long = "slab-growth-factor", default_value_t = 1.25)]
    growth_factor: f64,

    /// Smallest chunk (item header + key + value) in bytes.
    #[arg(short = 'n', long = "slab-min-size", default_value_t = 48)]
    min_chunk: usize,

    /// Largest item, in bytes or with a k/m suffix (1 KiB to 128 MiB).
    #[arg(short = 'I', long = "max-item-size", default_value = "1m")]
    max_item_size: String,

    /// Answer "SERVER_ERROR out of memory storing object" instead of evicting.
    #[arg(short = 'M', long = "disable-evictions")]
    disable_evictions: bool,

    /// Do not hand out CAS values (gets returns 0).
    #[arg(short = 'C', long = "disable-cas")]
    disable_cas: bool,

    /// Refuse flush_all.
    #[arg(short = 'F', long = "disable-flush-all")]
    disable_flush_all: bool,

    /// Allow the "shutdown" command.
    #[arg(short = 'A', long = "enable-shutdown")]
    enable_shutdown: bool,

    /// Verbose logging: -v warnings and info, -vv debug, -vvv trace. RUST_LOG also works.
    #[arg(short = 'v', action = ArgAction::Count)]
    verbose: u8,

    /// Microseconds an idle shard spins before it parks; lowers cross-core hop latency at
    /// the cost of CPU.
    #[arg(long = "spin-before-park-us", default_value_t = 0)]
    spin_before_park_us: u64,

    /// How shard threads are scheduled: batch (Linux's SCHED_BATCH: a woken shard does not
    /// preempt the thread running on its CPU, so shards that share a CPU take turns instead
    /// of cutting each other's short), normal, or auto: batch when shards outnumber the
    /// CPUs they may run on.
    #[arg(long = "shard-sched", value_enum, default_value_t = ShardSched::Auto)]
    shard_sched: ShardSched,

    /// While requests keep coming, each shard keeps a timer this many microseconds ahead,
    /// so that the kernel does not stop and restart its scheduler tick around every short
    /// sleep (two timer reprogrammings per request, costly in a VM); 0 turns it off.
    #[arg(long = "tick-hold-us", default_value_t = 2000)]
    tick_hold_us: u64,

    /// The twin node's replication address (HOST:PORT, repcached's -x). Both nodes name
    /// each other; both accept writes and converge.
    #[arg(short = 'x', long = "twin")]
    twin: Option<String>,

    /// Port this node accepts its twin's replication streams on (repcached's -X).
    #[arg(short = 'X', long = "repl-port", default_value_t = 11212)]
    repl_port: u16,

    /// Address to accept replication on. Default: the first -l address.
    #[arg(long = "repl-listen")]
    repl_listen: Option<String>,

    /// File holding a shared secret; when set, the link requires the twin to prove it knows
    /// it (HMAC challenge), and a twin that does not is refused.
    #[arg(long = "repl-secret-file")]
    repl_secret_file: Option<String>,

    /// Accept replication on a non-loopback address without --repl-secret-file: anyone who
    /// can reach the port can then write to this node.
    #[arg(long = "repl-insecure-listen")]
    repl_insecure_listen: bool,

    /// Replication backlog in MB for the whole node, split across shards. A twin that
    /// returns within it gets only what it missed (partial resync).
    #[arg(long = "repl-backlog-mb", default_value_t = 64)]
    repl_backlog_mb: u64,

    /// Longest a backlog entry (and a delete's tombstone) is kept, in seconds.
    #[arg(long = "repl-backlog-secs", default_value_t = 3600)]
    repl_backlog_secs: u64,

    #[command(flatten)]
    repl_tls: repl::ReplTlsFlags,

    /// Run as this user when started as root (memcached's -u).
    #[arg(short = 'u', long = "user")]
    user: Option<String>,

    /// UDP port to listen on; 0 (the default, as in memcached 1.6) turns UDP off, -1 takes a
    /// free port.
    #[arg(
        short = 'U',
        long = "udp-port",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    udp_port: i32,

    /// Write the process id to this file (memcached's -P).
    #[arg(short = 'P', long = "pidfile")]
    pidfile: Option<String>,

    // ---- memcached's remaining flags (issue 15: its t/ suite and its users pass them) ----
    /// Extended options, comma separated, repeatable: idle_timeout=SECS, slab_chunk_max,
    /// lru_crawler, modern, no_modern, ... (see docs/compatibility.md).
    #[arg(short = 'o', long = "extended", action = ArgAction::Append, allow_hyphen_values = true)]
    extended: Vec<String>,

    /// Requests a connection may run per read before other connections get a turn.
    #[arg(
        short = 'R',
        long = "max-reqs-per-event",
        default_value_t = 20,
        allow_negative_numbers = true
    )]
    reqs_per_event: i64,

    /// Listen backlog for the client port.
    #[arg(
        short = 'b',
        long = "listen-backlog",
        default_value_t = 1024,
        allow_negative_numbers = true
    )]
    backlog: i64,

    /// Run as a daemon (in the background, detached from the terminal).
    #[arg(short = 'd', long = "daemon")]
    daemonize: bool,

    /// Listen on this unix socket instead of TCP (text, meta and binary alike); the file is
    /// removed on exit.
    #[arg(short = 's', long = "unix-socket")]
    unix_socket: Option<String>,

    /// Access mask of the unix socket, in octal.
    #[arg(short = 'a', long = "unix-mask", default_value = "0700")]
    unix_mask: String,

    /// Key prefix delimiter for `stats detail` (one character).
    #[arg(short = 'D', default_value = ":")]
    prefix_delimiter: String,

    /// Lock all memory into RAM (mlockall), as memcached's -k.
    #[arg(short = 'k', long = "lock-memory")]
    lock_memory: bool,

    /// Accepted for memcached command lines: pages here are already advised as huge pages.
    #[arg(short = 'L', long = "enable-largepages")]
    large_pages: bool,

    /// Accepted for memcached command lines: raise the core file limit.
    #[arg(short = 'r', long = "enable-coredumps")]
    coredumps: bool,

    /// Protocol: auto (a first byte of 0x80 means binary), ascii or binary.
    #[arg(short = 'B', long = "protocol")]
    protocol: Option<String>,

    /// SASL PLAIN authentication over the binary protocol (turns the text protocol off).
    #[arg(short = 'S', long = "enable-sasl")]
    sasl: bool,

    /// SASL password file, `user:password` per line (default: $MEMCACHED_SASL_PWDB).
    #[arg(long = "sasl-pwdb")]
    sasl_pwdb: Option<String>,

    /// Enable TLS/SSL on the TCP listeners (memcached's -Z): -o ssl_chain_cert=FILE,
    /// ssl_key=FILE, ssl_ca_cert=FILE, ssl_verify_mode=0-3, ssl_min_version=2|3,
    /// ssl_session_cache (docs/security.md).
    #[arg(short = 'Z', long = "enable-ssl")]
    enable_ssl: bool,

    /// Text protocol authentication: `user:password` lines; clients log in with
    /// `set <any key> 0 0 <n>` and `<user> <password>` as the value.
    #[arg(short = 'Y', long = "auth-file")]
    auth_file: Option<String>,

    #[command(flatten)]
    metrics: metrics::MetricsFlags,
    #[command(flatten)]
    ops: ops::OpsFlags,
    #[command(flatten)]
    watch: watch::WatchFlags,
}

/// Twin replication settings (present only with --twin).
#[derive(Clone, Debug)]
pub struct ReplConfig {
    pub twin: String,
    pub listen: SocketAddr,
    pub secret: Option<Vec<u8>>,
    /// With --repl-tls: both ends' TLS settings, shared by every shard.
    pub tls: Option<std::sync::Arc<crate::replication::tls::LinkTls>>,
    pub backlog_bytes: usize,
    pub backlog_secs: u64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    pub listen: Vec<IpAddr>,
    /// The -l entries: each address with its own port, if given, and what it speaks.
    pub listeners: Vec<Listener>,
    pub memory_limit: usize,
    pub conn_limit: usize,
    pub shards: usize,
    /// One CPU per shard, or None when shards outnumber the CPUs we may use.
    pub cpus: Option<Vec<usize>>,
    pub growth_factor: f64,
    pub min_chunk: usize,
    pub max_item_size: usize,
    pub evictions: bool,
    pub cas: bool,
    pub flush_enabled: bool,
    pub shutdown_enabled: bool,
    pub verbose: u8,
    pub spin_before_park_us: u64,
    /// Shard threads run SCHED_BATCH (`--shard-sched`, resolved).
    pub sched_batch: bool,
    pub tick_hold_us: u64,
    pub repl: Option<ReplConfig>,
    pub user: Option<String>,
    pub pidfile: Option<String>,
    pub protocol: Protocol,
    /// With -S: the SASL PLAIN credentials.
    pub sasl: Option<Credentials>,
    /// With -Y: the text protocol's credentials, and the file they came from.
    pub auth_file: Option<Credentials>,
    pub auth_file_path: Option<String>,
    /// memcached's remaining flags and `-o` options.
    pub compat: Compat,
    /// `--metrics-listen`: where shard 0 serves `GET /metrics`.
    pub metrics_listen: Option<SocketAddr>,
    /// How the server stops (`--drain-timeout`).
    pub ops: Ops,
}

/// memcached's flags that corecached honours or accepts for compatibility (issue 15).
#[derive(Clone, Debug)]
pub struct Compat {
    pub ext: Extended,
    pub reqs_per_event: usize,
    pub backlog: u32,
    pub daemonize: bool,
    pub prefix_delimiter: u8,
    pub lock_memory: bool,
    /// memcached's test hook `T_MEMD_INITIAL_MALLOC`: bytes counted as already malloced,
    /// taken from -m before it is split and added to `total_malloced` (t/64bit).
    pub initial_malloc: usize,
    /// `-s`: serve this unix socket (mode `unix_mask`) instead of TCP.
    pub unix_socket: Option<String>,
    pub unix_mask: u32,
    /// `-U`: the UDP port on every listen address; 0 is off (unless `ephemeral.udp`).
    pub udp_port: u16,
    /// `-p -1` / `-U -1`: the port is 0 until startup binds a free one.
    pub ephemeral: Ephemeral,
    /// The -t asked for, when small -m made us run fewer shards.
    pub threads_asked: Option<usize>,
    /// false under -W: `watch` is refused.
    pub watch_enabled: bool,
}

impl Config {
    /// Item memory each shard may use.
    pub fn shard_memory(&self) -> usize {
        self.memory_limit.saturating_sub(self.compat.initial_malloc) / self.shards
    }

    /// Slab page size: memcached's 1 MiB, halved (down to 64 KiB) until every shard has at
    /// least 64 pages. Each size class in use holds at least one page, so a shard with few
    /// large pages would evict while nearly empty once values span many classes.
    pub fn page_size(&self) -> usize {
        let mut page = 1 << 20;
        while page > 64 << 10 && self.shard_memory() / page < 64 {
            page /= 2;
        }
        page
    }
}

/// What `main` should do with the command line.
pub enum Parsed {
    Run(Box<Config>),
    /// Help or version text was requested: print it and exit 0.
    Print(String),
    /// A usage error: one line, exit 64.
    Fail(String),
    /// An error memcached reports with another exit status (a bad `-o` exits 1).
    FailWith(String, i32),
}

/// `available` is the list of core ids this process may run on.
pub fn parse_args<I, T>(args: I, available: &[usize]) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Parsed::Print(e.to_string()),
                _ => Parsed::Fail(ops::usage_error(&e)),
            };
        }
    };
    let ext = match options::parse_extended(&cli.extended) {
        Ok(ext) => ext,
        Err(msg) => return Parsed::FailWith(msg, EXIT_BAD_OPTION),
    };
    match validate(cli, available, ext) {
        Ok(cfg) => Parsed::Run(Box::new(cfg)),
        Err(msg) => Parsed::Fail(msg),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

fn validate(cli: Cli, available: &[usize], mut ext: Extended) -> Result<Config, String> {
    ext.tls.enabled = cli.enable_ssl;
    let listeners = tls::parse_listen(&cli.listen, &ext.tls)?;
    let listen: Vec<IpAddr> = listeners.iter().map(|l| l.ip).collect();
    // memcached: -U alone moves the TCP port too.
    let asked = cli.port.unwrap_or(match cli.udp_port {
        0 => 11211,
        udp => udp,
    });
    let port = port_number(asked, "-p")?;
    let udp_port = port_number(cli.udp_port, "-U")?;
    ops::check(&cli)?;
    tls::check(&ext.tls, port != Some(0))?;
    if cli.memory_limit <= 0 || cli.memory_limit > (1 << 24) {
        return Err("error: -m: memory limit must be between 1 and 16777216 megabytes".into());
    }
    let memory_limit = (cli.memory_limit as usize) << 20;
    if cli.conn_limit == 0 {
        return Err("error: -c: connection limit must be at least 1".into());
    }
    let (asked, cpus) = shards_and_cpus(&cli, available)?;
    let max_item_size = item_limits(&cli, memory_limit)?;
    let initial_malloc = options::initial_malloc();
    if initial_malloc >= memory_limit {
        return Err("error: T_MEMD_INITIAL_MALLOC leaves no memory under -m".into());
    }
    let shards = shards_for_memory(asked, memory_limit - initial_malloc);
    let cpus = cpus.map(|c| c[..shards].to_vec());
    let mut compat = compat(&cli, ext, (shards != asked).then_some(asked))?;
    compat.initial_malloc = initial_malloc;
    compat.udp_port = udp_port.unwrap_or(0);
    compat.ephemeral = Ephemeral {
        tcp: port.is_none(),
        udp: udp_port.is_none(),
    };
    let repl = match &cli.twin {
        None => {
            repl::check_without_twin(&cli)?;
            None
        }
        Some(twin) => Some(repl::repl_config(&cli, port.unwrap_or(0), twin, &listen)?),
    };
    let (protocol, sasl, auth_file) = auth::auth_config(&auth::AuthFlags {
        protocol: cli.protocol.as_deref(),
        sasl: cli.sasl,
        sasl_pwdb: cli.sasl_pwdb.as_deref(),
        auth_file: cli.auth_file.as_deref(),
    })?;
    let metrics_listen = metrics::metrics_listen(&cli.metrics)?;
    Ok(Config {
        metrics_listen,
        protocol,
        sasl,
        auth_file,
        auth_file_path: cli.auth_file.clone(),
        user: cli.user.clone(),
        pidfile: cli.pidfile.clone(),
        repl,
        port: port.unwrap_or(0),
        listen,
        listeners,
        memory_limit,
        conn_limit: cli.conn_limit,
        shards,
        sched_batch: cli.shard_sched.batch(cpus.is_none()),
        cpus,
        growth_factor: cli.growth_factor,
        min_chunk: cli.min_chunk,
        max_item_size,
        evictions: !cli.disable_evictions,
        cas: !cli.disable_cas,
        flush_enabled: !cli.disable_flush_all,
        shutdown_enabled: cli.enable_shutdown,
        verbose: cli.verbose,
        spin_before_park_us: cli.spin_before_park_us,
        tick_hold_us: cli.tick_hold_us,
        ops: ops::ops(&cli)?,
        compat,
    })
}

/// Below 2 MB a shard's classes would evict while nearly empty (every class in use holds
/// a page), so a small -m runs fewer shards instead of refusing: memcached takes -m 2.
fn shards_for_memory(asked: usize, memory_limit: usize) -> usize {
    asked.min(memory_limit / (2 << 20)).max(1)
}

/// The memcached flags beyond the core set, checked as memcached checks them.
fn compat(cli: &Cli, mut ext: Extended, threads_asked: Option<usize>) -> Result<Compat, String> {
    if cli.reqs_per_event <= 0 {
        return Err("Number of requests per event must be greater than 0".into());
    }
    let delim = cli.prefix_delimiter.as_bytes();
    if delim.len() != 1 {
        return Err("error: -D: the prefix delimiter must be one character".into());
    }
    let unix_mask = u32::from_str_radix(&cli.unix_mask, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("error: -a: '{}' is not an octal mode", cli.unix_mask))?;
    for (on, flag) in [(cli.large_pages, "-L"), (cli.coredumps, "-r")] {
        if on {
            ext.ignored.push(flag.to_string());
        }
    }
    Ok(Compat {
        ext,
        reqs_per_event: cli.reqs_per_event as usize,
        backlog: cli.backlog.clamp(1, i32::MAX as i64) as u32,
        daemonize: cli.daemonize,
        prefix_delimiter: delim[0],
        lock_memory: cli.lock_memory,
        unix_socket: cli.unix_socket.clone(),
        unix_mask,
        initial_malloc: 0,
        udp_port: 0,
        ephemeral: Ephemeral::default(),
        threads_asked,
        watch_enabled: cli.watch.enabled(),
    })
}

/// `--shard-sched`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ShardSched {
    Auto,
    Batch,
    Normal,
}

impl ShardSched {
    /// Whether shard threads run SCHED_BATCH, given whether they outnumber their CPUs.
    fn batch(self, oversubscribed: bool) -> bool {
        match self {
            ShardSched::Batch => true,
            ShardSched::Normal => false,
            ShardSched::Auto => oversubscribed,
        }
    }
}

/// `-t` and `--cpus`: how many shards, and the cores to pin them to (none when there are
/// more shards than cores to give them).
fn shards_and_cpus(cli: &Cli, available: &[usize]) -> Result<(usize, Option<Vec<usize>>), String> {
    let cpus_list = match &cli.cpus {
        Some(s) => Some(parse_cpu_list(s)?),
        None => None,
    };
    let shards = cli
        .threads
        .unwrap_or_else(|| cpus_list.as_ref().map_or(available.len().max(1), Vec::len));
    if shards == 0 || shards > 1024 {
        return Err("error: -t: threads must be between 1 and 1024".into());
    }
    let cpus = match cpus_list {
        Some(list) => {
            if let Some(bad) = list.iter().find(|c| !available.contains(c)) {
                return Err(format!(
                    "error: --cpus: cpu {bad} is not available to this process"
                ));
            }
            if list.len() < shards {
                return Err(format!(
                    "error: --cpus lists {} cpus for {shards} shards",
                    list.len()
                ));
            }
            Some(list[..shards].to_vec())
        }
        None if shards <= available.len() => Some(available[..shards].to_vec()),
        None => None,
    };
    Ok((shards, cpus))
}

/// `-f`, `-n` and `-I`; returns the largest item size.
fn item_limits(cli: &Cli, memory_limit: usize) -> Result<usize, String> {
    if !(cli.growth_factor > 1.0 && cli.growth_factor <= 100.0) {
        return Err("error: -f: growth factor must be greater than 1.0".into());
    }
    if !(48..=1 << 19).contains(&cli.min_chunk) {
        return Err("error: -n: minimum chunk size must be between 48 and 524288 bytes".into());
    }
    let max_item_size = parse_size(&cli.max_item_size).ok_or_else(|| {
        format!(
            "error: -I: '{}' is not a size (e.g. 1m, 512k)",
            cli.max_item_size
        )
    })?;
    if !(1024..=128 << 20).contains(&max_item_size) {
        return Err("error: -I: item size must be between 1k and 128m".into());
    }
    if max_item_size > memory_limit / 2 {
        return Err("error: -I: cannot set item size limit higher than 1/2 of memory max".into());
    }
    Ok(max_item_size)
}

/// "1048576", "512k", "1m" (case-insensitive).
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        _ => (s, 0),
    };
    let n: usize = num.parse().ok()?;
    n.checked_mul(1 << shift)
}

/// "0,2-5" -> [0, 2, 3, 4, 5]
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("error: --cpus: '{s}' is not a cpu list (e.g. 0,2-5)");
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (usize, usize) =
                (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if a > b {
                return Err(bad());
            }
            out.extend(a..=b);
        } else {
            out.push(part.parse().map_err(|_| bad())?);
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn run(args: &[&str]) -> Result<Config, String> {
        let mut v = vec!["corecached"];
        v.extend_from_slice(args);
        match parse_args(v, &[0, 1]) {
            Parsed::Run(c) => Ok(*c),
            Parsed::Fail(m) | Parsed::FailWith(m, _) => Err(m),
            Parsed::Print(p) => Err(format!("print: {p}")),
        }
    }

    #[test]
    fn defaults() {
        let c = run(&[]).unwrap();
        assert_eq!((c.port, c.shards, c.memory_limit), (11211, 2, 64 << 20));
        assert_eq!(c.cpus, Some(vec![0, 1]));
        assert_eq!(c.max_item_size, 1 << 20);
    }

    #[test]
    fn oversubscribed_shards_run_unpinned() {
        let c = run(&["-t", "4"]).unwrap();
        assert_eq!((c.shards, c.cpus), (4, None));
    }

    #[test]
    fn bad_values_are_one_line() {
        for args in [
            &["-p", "x"][..],
            &["-m", "0"],
            &["-f", "1.0"],
            &["-I", "2g"],
            &["-I", "40m"],
            &["-t", "0"],
            &["--cpus", "7"],
            &["-l", "nohost"],
            &["--bogus"],
            &["--twin", "nohostport"],
            &["-U", "70000"],
            &["-p", "-2"],
            &[
                "--twin",
                "127.0.0.1:1",
                "--repl-secret-file",
                "/nonexistent/secret",
            ],
        ] {
            let e = run(args).unwrap_err();
            assert!(!e.contains('\n') && !e.is_empty(), "{args:?}: {e}");
        }
    }

    #[test]
    fn sizes_and_cpu_lists() {
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_cpu_list("0,2-4").unwrap(), vec![0, 2, 3, 4]);
        assert!(parse_cpu_list("3-1").is_err());
    }
}
