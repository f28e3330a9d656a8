//! `--metrics-listen`: the real binary serves `GET /metrics` over HTTP, Prometheus's own
//! `promtool` accepts what it serves, a real Prometheus server scrapes it, and the shipped
//! Grafana dashboard asks only for metrics the server emits.

mod common;

use common::{Server, free_port};
use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server with metrics on a port of its own, retried on new ports if one was taken.
fn start(extra: &[&str]) -> (Server, u16) {
    let mut last = String::new();
    for _ in 0..5 {
        let m = free_port();
        let listen = format!("127.0.0.1:{m}");
        let mut args = vec!["--metrics-listen", &listen];
        args.extend_from_slice(extra);
        match Server::try_start(&args) {
            Ok(s) => return (s, m),
            Err(e) => last = e,
        }
    }
    panic!("server did not start: {last}");
}

/// A replicating node (its twin is absent): the replication section is present.
fn start_twin() -> (Server, u16) {
    let (x, twin) = (
        free_port().to_string(),
        format!("127.0.0.1:{}", free_port()),
    );
    start(&["-X", &x, "--twin", &twin])
}

struct Response {
    status: String,
    headers: HashMap<String, String>,
    body: String,
}

/// Sends `req` as is and reads the response to the end (the server closes after it).
fn http(port: u16, req: &[u8]) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(req).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("no end of head");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

fn get(port: u16, path: &str) -> Response {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    http(port, req.as_bytes())
}

/// `name{labels}` -> value, from an exposition.
fn samples(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

/// The metric names an exposition describes (its `# TYPE` lines).
fn families(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// Whether `tool` runs; under CI=true a missing tool fails the test (CI installs it).
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "{tool} is required under CI=true (apt-get install prometheus)"
        );
        eprintln!("SKIPPED: {tool} not installed");
    }
    ok
}

#[test]
fn metrics_count_what_clients_did_and_agree_with_stats() {
    let (server, m) = start(&["-t", "2"]);
    let mut c = server.client();
    for i in 0..10 {
        assert_eq!(c.set(&format!("k{i}"), b"v").trim_end(), "STORED");
    }
    assert!(c.get("k1").is_some());
    assert!(c.get("nope").is_none());
    assert_eq!(c.line("delete k2").trim_end(), "DELETED");
    assert_eq!(c.line("incr nope 1").trim_end(), "NOT_FOUND");
    assert_eq!(c.call(b"mg k3 v\r\n", "v\r\n"), "VA 1\r\nv\r\n");
    assert_eq!(c.line("mg nope v").trim_end(), "EN");
    let r = get(m, "/metrics");
    assert_eq!(r.status, "HTTP/1.1 200 OK");
    assert_eq!(
        r.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(r.headers["connection"], "close");
    assert_eq!(r.headers["content-length"], r.body.len().to_string());
    let s = samples(&r.body);
    let cmd = |c: &str, st: &str| {
        s[&format!("memcached_commands_total{{command=\"{c}\",status=\"{st}\"}}")]
    };
    assert_eq!(cmd("set", "hit"), 10.0);
    // memcached counts mg as a get too.
    assert_eq!(cmd("get", "hit"), 2.0);
    assert_eq!(cmd("get", "miss"), 2.0);
    assert_eq!(cmd("delete", "hit"), 1.0);
    assert_eq!(cmd("incr", "miss"), 1.0);
    assert_eq!(s["memcached_up"], 1.0);
    let stats = c.stats("");
    assert_eq!(
        s["memcached_current_items"].to_string(),
        stats["curr_items"]
    );
    assert_eq!(s["memcached_current_items"], 9.0);
    let per_shard: f64 = (0..2)
        .map(|i| s[&format!("corecached_shard_curr_items{{shard=\"{i}\"}}")])
        .sum();
    assert_eq!(per_shard, 9.0);
    let count =
        |fam: &str| s[&format!("corecached_request_duration_seconds_count{{family=\"{fam}\"}}")];
    assert_eq!(count("set"), 10.0);
    assert_eq!(count("get"), 2.0);
    assert_eq!(count("delete"), 1.0);
    assert_eq!(count("incr_decr"), 1.0);
    assert_eq!(count("meta"), 2.0);
    let inf = s["corecached_request_duration_seconds_bucket{family=\"set\",le=\"+Inf\"}"];
    assert_eq!(inf, 10.0);
    assert_eq!(s["corecached_replication_enabled"], 0.0);
}

#[test]
fn other_requests_get_http_errors() {
    let (mut server, m) = start(&[]);
    let head = http(m, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(head.status, "HTTP/1.1 200 OK");
    assert!(head.body.is_empty());
    let post = http(m, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(post.status, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(post.headers["allow"], "GET, HEAD");
    assert_eq!(get(m, "/").status, "HTTP/1.1 404 Not Found");
    assert_eq!(get(m, "/metricsx").status, "HTTP/1.1 404 Not Found");
    assert_eq!(http(m, b"hello\r\n\r\n").status, "HTTP/1.1 400 Bad Request");
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let mut s = TcpStream::connect(("127.0.0.1", m)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server answers once it has read its limit, maybe before taking all of this.
    let _ = s.write_all(huge.as_bytes());
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 431 "),
        "{}",
        &answer[..answer.len().min(80)]
    );
    // Still serving after all that.
    assert_eq!(get(m, "/metrics").status, "HTTP/1.1 200 OK");
    // A scraper that sent half a request does not hold up a stop.
    let mut half = TcpStream::connect(("127.0.0.1", m)).unwrap();
    half.write_all(b"GET /metr").unwrap();
    let status = server
        .terminate()
        .expect("still running 10 s after SIGTERM");
    assert!(status.success(), "{status}");
}

/// Runs `promtool check metrics` on `body`; its complaints, if any.
fn promtool(body: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

#[test]
fn promtool_accepts_the_exposition() {
    if !have("promtool") {
        return;
    }
    let (server, m) = start(&["-t", "2"]);
    server.client().set("a", b"1");
    promtool(&get(m, "/metrics").body).unwrap();
    let (_twin, m) = start_twin();
    let body = get(m, "/metrics").body;
    assert!(body.contains("corecached_replication_lag_seconds{shard=\"0\"}"));
    promtool(&body).unwrap();
}

/// A Prometheus server this test started; killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts Prometheus scraping 127.0.0.1:`target` every second.
fn prometheus(target: u16) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("cc-prom-{}-{target}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    let yml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: corecached\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
    );
    std::fs::write(&config, yml).unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Prometheus { child, port, dir }
}

/// The value of a one-series instant query, if Prometheus answers with one.
fn query(prom: u16, q: &str) -> Option<f64> {
    let mut enc = String::new();
    for b in q.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => enc.push(b as char),
            _ => enc.push_str(&format!("%{b:02X}")),
        }
    }
    let mut s = TcpStream::connect(("127.0.0.1", prom)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET /api/v1/query?query={enc} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let body = raw.split_once("\r\n\r\n")?.1;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let result = v["data"]["result"].as_array()?;
    result.first()?["value"][1].as_str()?.parse().ok()
}

/// Polls `q` until `ok` holds for its value, for at most 30 s.
fn wait_for(prom: u16, q: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while Instant::now() < deadline {
        last = query(prom, q);
        if let Some(v) = last.filter(|&v| ok(v)) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("prometheus: {q} never held; last value {last:?}");
}

#[test]
fn a_real_prometheus_scrapes_it() {
    if !have("prometheus") {
        return;
    }
    let (server, m) = start(&["-t", "2"]);
    let mut c = server.client();
    for i in 0..5 {
        c.set(&format!("p{i}"), b"x");
    }
    let prom = prometheus(m);
    wait_for(prom.port, "up{job=\"corecached\"}", |v| v == 1.0);
    let sets = "memcached_commands_total{command=\"set\",status=\"hit\"}";
    let before = wait_for(prom.port, sets, |v| v >= 5.0);
    for i in 0..20 {
        c.set(&format!("q{i}"), b"y");
    }
    let after = wait_for(prom.port, sets, |v| v >= before + 20.0);
    assert_eq!(after, before + 20.0);
    let p99 = "histogram_quantile(0.99, sum by (le) (rate(corecached_request_duration_seconds_bucket{family=\"set\"}[1m])))";
    wait_for(prom.port, p99, |v| v > 0.0);
}

/// Every metric name in a PromQL expression: `memcached_*` and `corecached_*` words.
fn names_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for ch in expr.chars().chain([' ']) {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            word.push(ch);
        } else if !word.is_empty() {
            if word.starts_with("memcached_") || word.starts_with("corecached_") {
                out.push(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    out
}

fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x.as_str()) {
                    ("expr", Some(e)) => out.push(e.to_string()),
                    _ => exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

#[test]
fn the_grafana_dashboard_asks_only_for_emitted_metrics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana-dashboard.json");
    let text = std::fs::read_to_string(path).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard is not JSON");
    let titles: Vec<String> = dash["panels"]
        .as_array()
        .expect("no panels")
        .iter()
        .filter_map(|p| p["title"].as_str())
        .map(str::to_ascii_lowercase)
        .collect();
    for want in [
        "hit ratio",
        "ops/s",
        "evictions",
        "memory",
        "connections",
        "replication lag",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(want)),
            "no panel for {want}: {titles:?}"
        );
    }
    let (_twin, m) = start_twin();
    let emitted = families(&get(m, "/metrics").body);
    let mut all = Vec::new();
    exprs(&dash, &mut all);
    assert!(all.len() >= 6, "{all:?}");
    for e in &all {
        let names = names_in(e);
        assert!(!names.is_empty(), "{e} names no metric");
        for n in names {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s).filter(|f| emitted.contains(*f)))
                .unwrap_or(&n);
            assert!(emitted.contains(family), "{e}: {n} is not emitted");
        }
    }
}
