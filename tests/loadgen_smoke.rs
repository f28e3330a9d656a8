//! The bundled load generator against the real server: a few seconds with --verify must
//! exit 0 with sane figures that agree with the server's own counters.

mod common;
use common::{BIN, Server};
use std::path::PathBuf;
use std::process::Command;

/// loadgen is built next to corecached by `cargo test --workspace`; build it if not.
fn loadgen_bin() -> PathBuf {
    let dir = PathBuf::from(BIN).parent().unwrap().to_path_buf();
    let bin = dir.join("loadgen");
    if !bin.exists() {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-p", "loadgen"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building loadgen failed");
    }
    bin
}

fn run(server: &Server, extra: &[&str]) -> serde_json::Value {
    let json = std::env::temp_dir().join(format!(
        "loadgen-{}-{}.json",
        std::process::id(),
        server.port
    ));
    let before = { server.client().stat("cmd_get") + server.client().stat("cmd_set") };
    let out = Command::new(loadgen_bin())
        .args([
            "-s",
            &format!("127.0.0.1:{}", server.port),
            "-t",
            "1",
            "-c",
            "8",
            "--quiet",
        ])
        .args([
            "--key-space",
            "2000",
            "--prefill",
            "--verify",
            "--test-time",
            "2",
        ])
        .args(extra)
        .arg("--json-out")
        .arg(&json)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadgen failed:\n{text}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    let after = { server.client().stat("cmd_get") + server.client().stat("cmd_set") };
    let counted = v["ops"].as_u64().unwrap()
        + v["prefill_ops"].as_u64().unwrap()
        + v["warmup_ops"].as_u64().unwrap_or(0);
    assert_eq!(
        counted,
        after - before,
        "loadgen's count vs the server's: {v}"
    );
    v
}

#[test]
fn verified_run_against_corecached() {
    for t in ["1", "4"] {
        let s = Server::start(&["-t", t]);
        let v = run(
            &s,
            &[
                "--ratio",
                "1:4",
                "--pipeline",
                "4",
                "--multiget",
                "3",
                "--data-size-range",
                "10-2000",
            ],
        );
        assert!(v["ops_per_sec"].as_f64().unwrap() > 100.0, "{v}");
        assert_eq!(v["verify_mismatches"].as_u64(), Some(0));
        let lat = &v["latency_us"];
        let (p50, p99, max) = (
            lat["p50"].as_f64().unwrap(),
            lat["p99"].as_f64().unwrap(),
            lat["max"].as_f64().unwrap(),
        );
        assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{lat}");
        assert_eq!(
            v["get"]["misses"].as_u64(),
            Some(0),
            "prefilled keys all hit"
        );
    }
}

/// `--protocol meta` (quiet mg/ms, each request closed by mn) verifies clean too, and the
/// server counts its requests as gets and sets.
#[test]
fn verified_meta_run_against_corecached() {
    let s = Server::start(&["-t", "4"]);
    let args = ["--protocol", "meta", "--ratio", "1:4", "--pipeline", "4"];
    let v = run(&s, &[&args[..], &["--multiget", "3"]].concat());
    assert!(v["ops_per_sec"].as_f64().unwrap() > 100.0, "{v}");
    assert_eq!(v["verify_mismatches"].as_u64(), Some(0));
    assert_eq!(
        v["get"]["misses"].as_u64(),
        Some(0),
        "prefilled keys all hit"
    );
}

/// `--protocol binary` (SET, GETK, and multi-gets as pipelined GETKQ closed by NOOP)
/// verifies clean on one shard and across two, for single gets and multi-gets, and the
/// server counts its requests as gets and sets.
#[test]
fn verified_binary_run_against_corecached() {
    for t in ["1", "2"] {
        let s = Server::start(&["-t", t]);
        for multiget in ["1", "3"] {
            let args = ["--protocol", "binary", "--ratio", "1:4", "--pipeline", "4"];
            let v = run(&s, &[&args[..], &["--multiget", multiget]].concat());
            assert!(v["ops_per_sec"].as_f64().unwrap() > 100.0, "{v}");
            assert_eq!(v["verify_mismatches"].as_u64(), Some(0));
            assert_eq!(v["get"]["errors"].as_u64(), Some(0), "{v}");
            assert_eq!(
                v["get"]["misses"].as_u64(),
                Some(0),
                "prefilled keys all hit"
            );
        }
    }
}
