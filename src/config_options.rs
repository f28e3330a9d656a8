//! memcached's `-o` extended options: each one memcached 1.6 knows is either honoured (the
//! few that mean something here) or accepted and named in a log line at start; an unknown
//! one fails as memcached fails (`Illegal suboption "x"`, exit 1).

/// Exit status memcached uses for a bad `-o` (it returns 1 from main).
pub const EXIT_BAD_OPTION: i32 = 1;

/// What the `-o` options set, with memcached's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Extended {
    /// Seconds a client connection may stay silent before it is closed (0: never).
    pub idle_timeout: u64,
    /// `slab_chunk_max` as given (reported by `stats settings`; pages here are sized from -m).
    pub slab_chunk_max: Option<usize>,
    pub hash_algorithm: &'static str,
    pub lru_crawler: bool,
    pub lru_maintainer: bool,
    pub lru_segmented: bool,
    pub slab_reassign: bool,
    pub slab_automove: u8,
    pub temporary_ttl: u32,
    pub track_sizes: bool,
    pub watcher_logbuf_size: usize,
    pub worker_logbuf_size: usize,
    pub maxconns_fast: bool,
    /// `-Z` and the `ssl_*` options (config_tls.rs).
    pub tls: super::tls::TlsOptions,
    /// Options taken without effect here, for the start-up log line.
    pub ignored: Vec<String>,
}

impl Default for Extended {
    fn default() -> Self {
        Extended {
            idle_timeout: 0,
            slab_chunk_max: None,
            hash_algorithm: "murmur3",
            lru_crawler: true,
            lru_maintainer: true,
            lru_segmented: true,
            slab_reassign: true,
            slab_automove: 1,
            temporary_ttl: 61,
            track_sizes: false,
            watcher_logbuf_size: 256 << 10,
            worker_logbuf_size: 64 << 10,
            maxconns_fast: true,
            tls: Default::default(),
            ignored: Vec::new(),
        }
    }
}

/// Options memcached knows whose effect is internal to its own threads or allocator: taken
/// (with their value when memcached requires one) and logged.
const ACCEPTED: &[(&str, bool)] = &[
    ("hashpower", true),
    ("no_hashexpand", false),
    ("slab_automove_ratio", true),
    ("slab_automove_window", true),
    ("tail_repair_time", true),
    ("lru_crawler_sleep", true),
    ("lru_crawler_tocrawl", true),
    ("hot_lru_pct", true),
    ("warm_lru_pct", true),
    ("hot_max_factor", true),
    ("warm_max_factor", true),
    ("slab_sizes", true),
    ("no_inline_ascii_resp", false),
    ("inline_ascii_resp", false),
    ("no_chunked_items", false),
    ("no_drop_privileges", false),
    ("drop_privileges", false),
    ("resp_obj_mem_limit", false),
    ("read_buf_mem_limit", true),
    ("relaxed_privileges", false),
    ("sock_cookie_id", true),
];

/// Parses every `-o` argument (each a comma-separated list) in order, later ones winning.
pub fn parse_extended(args: &[String]) -> Result<Extended, String> {
    let mut ext = Extended::default();
    for list in args {
        for item in list.split(',').filter(|s| !s.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (item, None),
            };
            apply(&mut ext, item, name, value)?;
        }
    }
    Ok(ext)
}

fn apply(ext: &mut Extended, item: &str, name: &str, value: Option<&str>) -> Result<(), String> {
    let need = |what: &str| value.ok_or_else(|| format!("Missing {what} argument"));
    match name {
        "idle_timeout" => ext.idle_timeout = atoi(need("numeric idle_timeout")?).max(0) as u64,
        "slab_chunk_max" => {
            let v = need("slab_chunk_max")?;
            let n = v
                .parse::<usize>()
                .map_err(|_| "could not parse argument to slab_chunk_max".to_string())?;
            ext.slab_chunk_max = Some(n);
        }
        "hash_algorithm" => {
            ext.hash_algorithm = match need("hash_algorithm")? {
                "jenkins" => "jenkins",
                "murmur3" => "murmur3",
                "xxh3" => "xxh3",
                _ => return Err("Unknown hash_algorithm option (jenkins, murmur3, xxh3)".into()),
            }
        }
        "lru_crawler" => ext.lru_crawler = true,
        "no_lru_crawler" => ext.lru_crawler = false,
        "lru_maintainer" => (ext.lru_maintainer, ext.lru_segmented) = (true, true),
        "no_lru_maintainer" => ext.lru_maintainer = false,
        "slab_reassign" => ext.slab_reassign = true,
        "no_slab_reassign" => ext.slab_reassign = false,
        "slab_automove" => {
            let n = value.map_or(1, atoi);
            if !(0..=2).contains(&n) {
                return Err("slab_automove must be between 0 and 2".into());
            }
            ext.slab_automove = n as u8;
        }
        "no_slab_automove" => ext.slab_automove = 0,
        "maxconns_fast" => ext.maxconns_fast = true,
        "no_maxconns_fast" => ext.maxconns_fast = false,
        "temporary_ttl" => ext.temporary_ttl = atoi(need("temporary_ttl")?).max(0) as u32,
        "track_sizes" => ext.track_sizes = true,
        "watcher_logbuf_size" => ext.watcher_logbuf_size = kilobytes(need("watcher_logbuf_size")?)?,
        "worker_logbuf_size" => ext.worker_logbuf_size = kilobytes(need("worker_logbuf_size")?)?,
        "modern" => {}
        "no_modern" => {
            ext.slab_reassign = false;
            ext.slab_automove = 0;
            ext.maxconns_fast = false;
            ext.lru_segmented = false;
            ext.hash_algorithm = "jenkins";
            ext.lru_crawler = false;
            ext.lru_maintainer = false;
        }
        _ if let Some(r) = super::tls::apply(&mut ext.tls, &mut ext.ignored, name, value) => r?,
        _ => match ACCEPTED.iter().find(|(n, _)| *n == name) {
            Some((_, true)) if value.is_none() => return Err(format!("Missing {name} argument")),
            Some(_) => ext.ignored.push(item.to_string()),
            None => return Err(format!("Illegal suboption \"{item}\"")),
        },
    }
    // Everything above is kept in settings; these three change nothing in how we run.
    if matches!(name, "hash_algorithm" | "track_sizes" | "slab_chunk_max") {
        ext.ignored.push(item.to_string());
    }
    Ok(())
}

/// memcached's test-suite hook: `T_MEMD_INITIAL_MALLOC` bytes count as already malloced
/// (memcached reads it in every build; its t/64bit fakes 4 GB this way).
pub fn initial_malloc() -> usize {
    std::env::var("T_MEMD_INITIAL_MALLOC")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// C's atoi: leading digits (with a sign), 0 when there are none.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let n = digits[..end].parse::<i64>().unwrap_or(0);
    if neg { -n } else { n }
}

fn kilobytes(v: &str) -> Result<usize, String> {
    v.parse::<usize>()
        .ok()
        .and_then(|k| k.checked_mul(1024))
        .ok_or_else(|| format!("could not parse argument '{v}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<crate::config::Config, String> {
        let mut v = vec!["corecached"];
        v.extend_from_slice(args);
        match crate::config::parse_args(v, &[0, 1]) {
            crate::config::Parsed::Run(c) => Ok(*c),
            _ => Err(format!("{args:?} did not start")),
        }
    }

    fn parse(s: &str) -> Result<Extended, String> {
        parse_extended(&[s.to_string()])
    }

    #[test]
    fn known_options_set_their_fields() {
        let e = parse("idle_timeout=3,no_modern,slab_chunk_max=4096").unwrap();
        assert_eq!(e.idle_timeout, 3);
        assert_eq!(e.slab_chunk_max, Some(4096));
        assert!(!e.lru_crawler && !e.slab_reassign && e.slab_automove == 0);
        let e = parse("watcher_logbuf_size=8,slab_automove=2,relaxed_privileges").unwrap();
        assert_eq!((e.watcher_logbuf_size, e.slab_automove), (8 << 10, 2));
        assert_eq!(e.ignored, vec!["relaxed_privileges".to_string()]);
    }

    #[test]
    fn small_memory_runs_fewer_shards_as_memcached_starts() {
        let c = run(&["-m", "2"]).unwrap();
        assert_eq!(
            (c.shards, c.cpus.clone(), c.compat.threads_asked),
            (1, Some(vec![0]), Some(2))
        );
        assert_eq!(c.shard_memory(), 2 << 20);
        let c = run(&["-m", "5", "-t", "4"]).unwrap();
        assert_eq!(c.shards, 2);
        // memcached refuses -m 1 with the default 1 MB item limit, and so do we.
        assert!(run(&["-m", "1"]).is_err());
        assert_eq!(run(&["-m", "1", "-I", "512k"]).unwrap().shards, 1);
    }

    #[test]
    fn memcached_flags_and_extended_options() {
        let c = run(&[
            "-o",
            "idle_timeout=3",
            "-R",
            "1",
            "-b",
            "8675",
            "-o",
            "no_modern",
        ])
        .unwrap();
        assert_eq!(c.compat.ext.idle_timeout, 3);
        assert!(!c.compat.ext.lru_crawler);
        assert_eq!((c.compat.reqs_per_event, c.compat.backlog), (1, 8675));
        assert!(run(&["-R", "0"]).is_err());
        let mut v = vec!["corecached", "-o", "bogus"];
        assert!(matches!(
            crate::config::parse_args(v.clone(), &[0]),
            crate::config::Parsed::FailWith(_, EXIT_BAD_OPTION)
        ));
        v[2] = "modern,relaxed_privileges";
        assert!(matches!(
            crate::config::parse_args(v, &[0]),
            crate::config::Parsed::Run(_)
        ));
    }

    #[test]
    fn unknown_and_bad_options_fail_with_memcached_text() {
        assert_eq!(
            parse("bogus=1").unwrap_err(),
            "Illegal suboption \"bogus=1\""
        );
        assert!(parse("hash_algorithm=md5").is_err());
        assert!(parse("slab_automove=3").is_err());
        assert!(parse("idle_timeout").is_err());
        assert!(parse("hashpower").is_err());
    }
}
