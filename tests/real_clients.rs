//! Real memcached clients against the real binary: libmemcached's `memccapable`,
//! pymemcache's own integration suite (Debian's 3.5.2, and the newest release from PyPI),
//! and two binary-protocol clients, pylibmc with `binary=True` and Ruby's Dalli (binary
//! only). `.ci/run` installs them; outside CI a
//! missing tool skips its test with a notice, under CI=true it fails.

mod common;
use common::{Server, tool_present};
use std::io::Write;
use std::process::Command;

/// The Debian packages `.ci/run` installs for these tests.
const CLIENTS: &str = "libmemcached-tools python3-pymemcache python3-pytest python3-mock \
                       python3-pylibmc ruby ruby-dalli";

/// pylibmc over the binary protocol: set, get, multi-get across shards, delete, incr/decr,
/// cas, add/replace, touch, append. Port in argv[1].
const PYLIBMC: &str = r#"
import pylibmc, sys
c = pylibmc.Client(["127.0.0.1:%s" % sys.argv[1]], binary=True, behaviors={"cas": True})
keys = ["key%d" % i for i in range(50)]
for k in keys: assert c.set(k, "v" + k)
assert c.get("key1") == "vkey1"
m = c.get_multi(keys + ["missing"]); assert m == {k: "v" + k for k in keys}, m
assert c.delete("key1") and c.get("key1") is None and not c.delete("key1")
c.set("n", 5); assert c.incr("n", 3) == 8 and c.decr("n", 10) == 0
v, cas = c.gets("key2"); assert v == "vkey2"
assert c.cas("key2", "new", cas) and not c.cas("key2", "newer", cas)
assert c.get("key2") == "new"
assert c.add("key3", "x") is False and c.replace("key3", "r") and c.get("key3") == "r"
assert c.touch("key3", 100)
c.set_multi({"a": 1, "b": 2}); assert c.get_multi(["a", "b"]) == {"a": 1, "b": 2}
c.delete_multi(["a", "b"]); assert c.get_multi(["a", "b"]) == {}
c.append("key4", "+"); assert c.get("key4") == "vkey4+"
print("pylibmc binary ok")
"#;

/// Dalli (binary only): the same, plus incr creating with an initial value, gat and flush.
const DALLI: &str = r#"
require "dalli"
c = Dalli::Client.new("127.0.0.1:#{ARGV[0]}", socket_timeout: 2)
keys = (0...50).map { |i| "key#{i}" }
keys.each { |k| c.set(k, "v#{k}", nil, raw: true) or raise "set" }
raise "get" unless c.get("key1") == "vkey1"
m = c.get_multi(*keys, "missing")
raise "multi #{m.size}" unless m.size == 50 && m.all? { |k, v| v == "v#{k}" }
raise "delete" unless c.delete("key1") && c.get("key1").nil?
c.set("n", "5", nil, raw: true)
raise "incr" unless c.incr("n", 3) == 8 && c.decr("n", 10) == 0
raise "incr init" unless c.incr("fresh", 1, nil, 10) == 10 && c.incr("fresh", 1) == 11
raise "cas" unless c.cas("key2") { |v| v + "!" } && c.get("key2") == "vkey2!"
v, cas = c.get_cas("key3")
raise "set_cas" unless c.set_cas("key3", "x", cas) && !c.set_cas("key3", "y", cas)
raise "add" if c.add("key4", "x")
raise "touch" unless c.touch("key4", 100)
raise "gat" unless c.gat("key4", 100) == "vkey4"
raise "flush" unless c.flush
puts "dalli ok"
"#;

/// Runs a client script against a fresh server for each shard count; it must exit 0.
fn binary_client_passes(cmd: &str, flag: &str, script: &str, shard_counts: &[&str]) {
    for t in shard_counts {
        let s = Server::start(&["-t", t]);
        let out = Command::new(cmd)
            .args([flag, script, &s.port.to_string()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cmd} -t {t}:\n{text}");
    }
}

#[test]
fn pylibmc_binary_passes() {
    if !tool_present("/usr/bin/python3", &["-c", "import pylibmc"], CLIENTS) {
        return;
    }
    binary_client_passes("/usr/bin/python3", "-c", PYLIBMC, &["1", "2", "4"]);
}

#[test]
fn dalli_passes() {
    if !tool_present("ruby", &["-e", "require 'dalli'"], CLIENTS) {
        return;
    }
    binary_client_passes("ruby", "-e", DALLI, &["2"]);
}

#[test]
fn memccapable_ascii_passes() {
    if !tool_present("sh", &["-c", "command -v memccapable"], CLIENTS) {
        return;
    }
    for t in ["1", "4"] {
        let s = Server::start(&["-t", t]);
        let out = Command::new("memccapable")
            .args(["-a", "-h", "127.0.0.1", "-p", &s.port.to_string()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "memccapable -t {t}:\n{text}");
        assert!(text.contains("All tests passed"), "{text}");
        assert!(!text.contains("[FAIL]"), "{text}");
    }
}

#[test]
fn pymemcache_integration_suite_passes() {
    let probe = "import pymemcache.test, pytest, mock";
    if !tool_present("/usr/bin/python3", &["-c", probe], CLIENTS) {
        return;
    }
    let dir = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import os, pymemcache.test as t; print(os.path.dirname(t.__file__))",
        ])
        .output()
        .unwrap();
    let dir = String::from_utf8(dir.stdout).unwrap().trim().to_string();
    // TLS cases need a TLS listener (not offered) and certificates Debian does not ship.
    let suite = Pytest {
        python: "/usr/bin/python3",
        target: &dir,
        args: &["-k", "not tls"],
    };
    suite.passes(&["1", "4"], 40);
}

/// pymemcache's newest release (4.0.0, `pip index versions pymemcache`), newer than
/// Debian's 3.5.2: its integration module in full (every `integration`-marked test is in
/// `test_integration.py`; its one TLS case is skipped by pymemcache itself) against `-t 2`.
/// `.ci/run` installs it into `target/pymemcache-venv`.
#[test]
fn pymemcache_latest_integration_suite_passes() {
    let root = env!("CARGO_MANIFEST_DIR");
    let python = format!("{root}/target/pymemcache-venv/bin/python");
    let install = "pymemcache 4.0.0 into target/pymemcache-venv (see .ci/run)";
    let probe = "import pymemcache, pytest; assert pymemcache.__version__ == '4.0.0'";
    if !tool_present(&python, &["-c", probe], install) {
        return;
    }
    let dir = Command::new(&python)
        .args([
            "-c",
            "import os, pymemcache.test as t; print(os.path.dirname(t.__file__))",
        ])
        .output()
        .unwrap();
    let dir = String::from_utf8(dir.stdout).unwrap().trim().to_string();
    let target = format!("{dir}/test_integration.py");
    let suite = Pytest {
        python: &python,
        target: &target,
        args: &[],
    };
    // 100 pass against Debian's memcached 1.6.18 as against corecached; 3 skip (test_tls).
    suite.passes(&["2"], 100);
}

/// One pymemcache integration run: the interpreter, the test dir or file, extra pytest args.
struct Pytest<'a> {
    python: &'a str,
    target: &'a str,
    args: &'a [&'a str],
}

impl Pytest<'_> {
    /// The suite passes against a fresh server of each shard count, with at least
    /// `min_passed` tests passing. A run whose every failure is a known race is run once
    /// more, with a notice.
    fn passes(&self, shard_counts: &[&str], min_passed: u32) {
        for t in shard_counts {
            let mut text = self.run(t);
            if !suite_passed(&text) {
                let Some(why) = only_known_races(&text) else {
                    panic!(
                        "pymemcache -t {t}: failures outside the known races, not retried:\n{text}"
                    );
                };
                // Straight to stderr: libtest captures `eprintln!` of a passing test, and a
                // retry that nobody sees is the very thing this is meant to stop.
                let _ = writeln!(
                    std::io::stderr(),
                    "pymemcache -t {t}: RETRYING the suite once; every failure is a known race: \
                     {}. First run:\n{text}",
                    why.join("; ")
                );
                text = self.run(t);
            }
            assert!(suite_passed(&text), "pymemcache -t {t}:\n{text}");
            let summary = summary_line(&text);
            let passed: u32 = summary
                .trim_matches(|c: char| !c.is_ascii_digit())
                .split(' ')
                .next()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            assert!(
                passed >= min_passed,
                "too few pymemcache tests ran: {summary}"
            );
        }
    }

    /// The integration tests against a fresh server with `-t shards`; pytest's output.
    fn run(&self, shards: &str) -> String {
        let s = Server::start(&["-t", shards]);
        let out = Command::new(self.python)
            .args(["-m", "pytest", self.target, "-m", "integration"])
            .args(self.args)
            .args(["-q", "-rfE", "-p", "no:cacheprovider", "-W", "ignore"])
            .args(["--server", "127.0.0.1", "--port", &s.port.to_string()])
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

/// The pymemcache tests (pytest ids, file::name[params]) that the `noreply` ordering race of
/// docs/protocol.md can fail; only a run whose every failure is one of these (or of
/// `SECOND_BOUNDARY`) is retried.
///
/// Each pymemcache test opens its own connection and starts with a `noreply` `flush_all`.
/// A test's noreply flush is harmless to itself (its later commands on the same connection
/// are answered, so the flush was applied before them) and to the test after it, unless
/// the test ends on that flush: then nobody waits for it, and a shard may read the next
/// test's new connection first, so the flush lands after that test's `set` and its `get`
/// misses. memcached's single acceptor usually reads the older connection first, which is
/// why the suite assumes it. Only `test_misc` ends that way (a bare `flush_all()`), so only
/// the test after the last `test_misc` can be hit: `test_serialization_deserialization`,
/// whose `set` is itself `noreply` (how often: docs/protocol.md, "Known difference in
/// timing"). A flush late by a whole further test would hit the one after it,
/// `test_serde_serialization[socket-Client]`; never seen, listed because it is the same
/// race. A reordered or extended pymemcache suite makes this list wrong loudly: the
/// failure is then not retried.
const NOREPLY_RACE: &[&str] = &[
    "test_integration.py::test_serialization_deserialization[socket]",
    "test_integration.py::test_serde_serialization[socket-Client]",
];

/// pymemcache's `test_touch` stores a key with exptime 1 and expects the next command to
/// find it. Like memcached, corecached keeps time in whole seconds and an item set at second
/// S with exptime 1 dies when the clock reaches S+1, which can be a millisecond later; a
/// loaded host makes that likelier (how often: docs/protocol.md). It fails on the second
/// `touch` (`assert result is True`). Not a noreply race, so it has
/// its own list and its own line in the retry notice.
const SECOND_BOUNDARY: &[&str] = &[
    "test_integration.py::test_touch[socket-Client]",
    "test_integration.py::test_touch[socket-PooledClient]",
    "test_integration.py::test_touch[socket-HashClientSingle]",
    // pymemcache 4.0.0 runs each client class with and without a key prefix.
    "test_integration.py::test_touch[socket-Client-]",
    "test_integration.py::test_touch[socket-Client-prefix]",
    "test_integration.py::test_touch[socket-PooledClient-]",
    "test_integration.py::test_touch[socket-PooledClient-prefix]",
    "test_integration.py::test_touch[socket-HashClientSingle-]",
    "test_integration.py::test_touch[socket-HashClientSingle-prefix]",
];

/// For a run whose every failure is in `NOREPLY_RACE` or `SECOND_BOUNDARY` (and pytest's count
/// agrees that there are no others), each failed id with the race it is; None if any failure
/// is outside them, or none could be read.
fn only_known_races(text: &str) -> Option<Vec<String>> {
    let failed = failed_ids(text);
    let why: Vec<String> = failed
        .iter()
        .filter_map(|id| {
            let race = if NOREPLY_RACE.contains(&id.as_str()) {
                "noreply order (NOREPLY_RACE, docs/protocol.md)"
            } else if SECOND_BOUNDARY.contains(&id.as_str()) {
                "exptime 1 across a second boundary (SECOND_BOUNDARY)"
            } else {
                return None;
            };
            Some(format!("{id}: {race}"))
        })
        .collect();
    let all_known = why.len() == failed.len();
    (all_known && !failed.is_empty() && failed.len() == failed_count(text)).then_some(why)
}

/// The ids of the tests pytest's short summary (`-rfE`) reports as failed or errored,
/// without the directory (`test_integration.py::test_cas[socket-Client]`).
fn failed_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            l.strip_prefix("FAILED ")
                .or_else(|| l.strip_prefix("ERROR "))
        })
        .map(|rest| {
            let id = rest.split(" - ").next().unwrap_or(rest).trim();
            id.rsplit('/').next().unwrap_or(id).to_string()
        })
        .collect()
}

/// The failures and errors pytest's closing line counts ("1 failed, 45 passed ...").
fn failed_count(text: &str) -> usize {
    let words: Vec<&str> = summary_line(text).split([' ', ',']).collect();
    words
        .windows(2)
        .filter(|w| w[1].starts_with("failed") || w[1].starts_with("error"))
        .filter_map(|w| w[0].parse::<usize>().ok())
        .sum()
}

/// pytest's closing line ("45 passed, 492 deselected in 0.7s"), or "".
fn summary_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| l.contains(" passed"))
        .unwrap_or("")
}

/// Whether pytest's output reports a run with no failure or error.
fn suite_passed(text: &str) -> bool {
    let summary = summary_line(text);
    !summary.is_empty() && !summary.contains("failed") && !summary.contains("error")
}

#[test]
fn retry_decision_reads_pytest_summary() {
    let one = "....F..\n=== short test summary info ===\nFAILED ../../usr/lib/python3/dist-packages/\
               pymemcache/test/test_integration.py::test_serialization_deserialization[socket] - \
               AssertionError: assert None == {'a': 'b'}\n1 failed, 45 passed, 492 deselected in 0.82s\n";
    assert_eq!(
        failed_ids(one),
        ["test_integration.py::test_serialization_deserialization[socket]"]
    );
    assert_eq!(failed_count(one), 1);
    assert!(!suite_passed(one));
    assert!(only_known_races(one).is_some());
    let touch = one.replace(
        "test_serialization_deserialization[socket]",
        "test_touch[socket-PooledClient]",
    );
    assert!(only_known_races(&touch).unwrap()[0].contains("second boundary"));
    // A known id beside an unknown one, or a count the summary lines do not account for.
    let mixed = one.replace("1 failed", "2 failed");
    assert!(only_known_races(&mixed).is_none());
    let other = "FAILED a/test_integration.py::test_cas[socket-Client]\n\
                 ERROR a/test_integration.py::test_gets[socket-Client] - OSError\n\
                 1 failed, 44 passed, 1 error in 0.9s\n";
    assert_eq!(failed_count(other), 2);
    assert_eq!(failed_ids(other).len(), 2);
    assert!(only_known_races(other).is_none());
    assert!(suite_passed("46 passed, 492 deselected in 0.7s\n"));
}

/// RevenueCat's `meta-memcache` (PyPI), the meta protocol's Python client, through
/// `tests/clients/meta_memcache_check.py`; `.ci/run` installs it into `target/meta-venv`.
/// Its one check beyond the client (a CAS of 2^32 or more, which meta-memcache-socket
/// 0.3.1 cannot parse) is the only one allowed not to pass.
#[test]
fn meta_memcache_basic_checks_pass() {
    let root = env!("CARGO_MANIFEST_DIR");
    let python = format!("{root}/target/meta-venv/bin/python");
    let install = "meta-memcache into target/meta-venv (see .ci/run)";
    if !tool_present(&python, &["-c", "import meta_memcache"], install) {
        return;
    }
    for t in ["1", "4"] {
        let s = Server::start(&["-t", t]);
        let out = Command::new(&python)
            .arg(format!("{root}/tests/clients/meta_memcache_check.py"))
            .arg(s.port.to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "meta-memcache -t {t}:\n{text}");
        let limited: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("CLIENT-LIMIT"))
            .collect();
        assert!(
            limited
                .iter()
                .all(|l| l.starts_with("CLIENT-LIMIT check_cas:")),
            "{text}"
        );
        assert_eq!(
            text.lines().filter(|l| l.starts_with("PASS")).count(),
            8,
            "{text}"
        );
    }
}
