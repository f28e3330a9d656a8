//! Command-line flags (memtier_benchmark-style names) and their validation into a `Config`
//! the rest of the tool can trust without re-checking.

use crate::keys::KeyPattern;
use clap::Parser;
use serde::Serialize;
use std::net::{SocketAddr, ToSocketAddrs};

#[derive(Parser, Debug, Clone, Serialize)]
#[command(
    name = "loadgen",
    version,
    about = "Load generator for memcached-protocol servers (closed-loop, or open-loop with --rate)"
)]
pub struct Args {
    /// Server HOST:PORT; repeat to spread keys over several servers with ketama hashing.
    #[arg(short = 's', long = "server", default_value = "127.0.0.1:11211")]
    pub server: Vec<String>,
    /// OS threads; each drives its own connections.
    #[arg(short = 't', long, default_value_t = 4)]
    pub threads: usize,
    /// Connections per thread (per server).
    #[arg(short = 'c', long, default_value_t = 50)]
    pub connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// SET:GET ratio, e.g. 1:10.
    #[arg(long, default_value = "1:10")]
    pub ratio: String,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 100_000)]
    pub key_space: u64,
    /// Prefix of every key.
    #[arg(long, default_value = "key:")]
    pub key_prefix: String,
    /// uniform | sequential | zipf:S | gaussian
    #[arg(long, default_value = "uniform")]
    pub key_pattern: String,
    /// Value size in bytes.
    #[arg(long, default_value_t = 32)]
    pub data_size: usize,
    /// Value size range MIN-MAX (overrides --data-size); the size is derived from the key.
    #[arg(long)]
    pub data_size_range: Option<String>,
    /// Seconds to measure (default 10 unless --requests is given).
    #[arg(long)]
    pub test_time: Option<f64>,
    /// Requests for the whole run, split over threads.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Store every key of the key space before measuring.
    #[arg(long)]
    pub prefill: bool,
    /// Keys per get request.
    #[arg(long, default_value_t = 1)]
    pub multiget: usize,
    /// Check every value read back against the value derived from its key.
    #[arg(long)]
    pub verify: bool,
    /// Total requests/s across all connections; makes the run open-loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Write a JSON summary here.
    #[arg(long)]
    pub json_out: Option<String>,
    /// Write an HdrHistogram interval log (V2) here.
    #[arg(long)]
    pub hdr_out: Option<String>,
    /// Write an SVG plot (latency percentiles, ops/s over time) here.
    #[arg(long)]
    pub plot: Option<String>,
    /// Wire protocol: text; meta (quiet mg/ms, each request closed by mn); or binary (set,
    /// getk, and a multi-get as pipelined getkq closed by noop).
    #[arg(long, default_value = "text")]
    pub protocol: String,
    /// Seed for key choice; runs with the same seed ask for the same keys.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Do not print the once-a-second progress lines.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    pub addr: SocketAddr,
}

/// Validated run parameters.
#[derive(Debug, Clone)]
pub struct Config {
    pub servers: Vec<Server>,
    pub threads: usize,
    pub connections: usize,
    pub pipeline: usize,
    pub set_weight: u32,
    pub get_weight: u32,
    pub key_space: u64,
    pub key_prefix: String,
    pub key_pattern: KeyPattern,
    pub size_min: usize,
    pub size_max: usize,
    pub test_time: Option<f64>,
    pub requests: Option<u64>,
    pub warmup: f64,
    pub prefill: bool,
    pub multiget: usize,
    pub verify: bool,
    pub rate: Option<f64>,
    pub seed: u64,
    pub quiet: bool,
    pub protocol: Protocol,
}

/// The wire protocol every connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Text,
    Meta,
    Binary,
}

fn parse_ratio(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("--ratio {s:?}: expected SET:GET, e.g. 1:9"))?;
    let set = a
        .trim()
        .parse::<u32>()
        .map_err(|e| format!("--ratio {s:?}: {e}"))?;
    let get = b
        .trim()
        .parse::<u32>()
        .map_err(|e| format!("--ratio {s:?}: {e}"))?;
    if set == 0 && get == 0 {
        return Err("--ratio 0:0 asks for nothing".into());
    }
    Ok((set, get))
}

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("--data-size-range {s:?}: expected MIN-MAX"))?;
    let lo = a
        .trim()
        .parse::<usize>()
        .map_err(|e| format!("--data-size-range: {e}"))?;
    let hi = b
        .trim()
        .parse::<usize>()
        .map_err(|e| format!("--data-size-range: {e}"))?;
    if lo > hi {
        return Err(format!("--data-size-range {s:?}: MIN > MAX"));
    }
    Ok((lo, hi))
}

impl Args {
    pub fn validate(&self) -> Result<Config, String> {
        let protocol = match self.protocol.as_str() {
            "text" => Protocol::Text,
            "meta" => Protocol::Meta,
            "binary" => Protocol::Binary,
            p => {
                return Err(format!(
                    "--protocol {p:?}: unknown (supported: text, meta, binary)"
                ));
            }
        };
        let mut servers = Vec::new();
        for s in &self.server {
            let addr = s
                .to_socket_addrs()
                .map_err(|e| format!("--server {s}: {e}"))?
                .next()
                .ok_or_else(|| format!("--server {s}: no address"))?;
            servers.push(Server {
                name: s.clone(),
                addr,
            });
        }
        let (set_weight, get_weight) = parse_ratio(&self.ratio)?;
        let (size_min, size_max) = match &self.data_size_range {
            Some(r) => parse_range(r)?,
            None => (self.data_size, self.data_size),
        };
        // memcached's default item limit is 1 MiB; bigger values only measure errors.
        if size_max > 1 << 20 {
            return Err("value size above 1 MiB".into());
        }
        if self.threads == 0 || self.connections == 0 || self.pipeline == 0 {
            return Err("--threads, --connections and --pipeline must be at least 1".into());
        }
        if self.key_space == 0 {
            return Err("--key-space must be at least 1".into());
        }
        if self.multiget == 0 {
            return Err("--multiget must be at least 1".into());
        }
        if self.key_prefix.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("--key-prefix may not hold spaces or control characters".into());
        }
        if self.key_prefix.len() + 20 > 250 {
            return Err("--key-prefix too long for memcached's 250-byte keys".into());
        }
        if let Some(r) = self.rate
            && (r.is_nan() || r <= 0.0)
        {
            return Err("--rate must be positive".into());
        }
        let test_time = match (self.test_time, self.requests) {
            (Some(t), _) if t.is_nan() || t <= 0.0 => return Err("--test-time must be > 0".into()),
            (Some(t), _) => Some(t),
            (None, Some(_)) => None,
            (None, None) => Some(10.0),
        };
        if self.warmup.is_nan() || self.warmup < 0.0 {
            return Err("--warmup must be >= 0".into());
        }
        Ok(Config {
            servers,
            threads: self.threads,
            connections: self.connections,
            pipeline: self.pipeline,
            set_weight,
            get_weight,
            key_space: self.key_space,
            key_prefix: self.key_prefix.clone(),
            key_pattern: KeyPattern::parse(&self.key_pattern)?,
            size_min,
            size_max,
            test_time,
            requests: self.requests,
            warmup: self.warmup,
            prefill: self.prefill,
            multiget: self.multiget,
            verify: self.verify,
            rate: self.rate,
            seed: self.seed,
            quiet: self.quiet,
            protocol,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_and_range() {
        assert_eq!(parse_ratio("1:9").unwrap(), (1, 9));
        assert!(parse_ratio("0:0").is_err());
        assert!(parse_ratio("19").is_err());
        assert_eq!(parse_range("10-100").unwrap(), (10, 100));
        assert!(parse_range("100-10").is_err());
    }

    #[test]
    fn protocols_taken_and_others_refused() {
        let a = Args::parse_from(["loadgen", "--protocol", "meta"]);
        assert_eq!(a.validate().unwrap().protocol, Protocol::Meta);
        let a = Args::parse_from(["loadgen", "--protocol", "binary"]);
        assert_eq!(a.validate().unwrap().protocol, Protocol::Binary);
        let a = Args::parse_from(["loadgen"]);
        assert_eq!(a.validate().unwrap().protocol, Protocol::Text);
        let a = Args::parse_from(["loadgen", "--protocol", "ascii"]);
        let e = a.validate().unwrap_err();
        assert!(e.contains("supported: text, meta, binary"), "{e}");
    }
}
