//! memcached's own t/ suite (Debian's memcached 1.6.18 source package) against corecached:
//! every file in tests/memcached_suite/passing.txt must pass, run by `prove` through the
//! wrapper that stands in for memcached-debug. Without the source (fetched by
//! tests/memcached_suite/fetch.sh, which .ci/run calls) the test says why and passes,
//! except under CI=true, where a missing source is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

fn suite_source() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::env::var_os("MEMCACHED_SUITE_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/memcached-src/memcached-1.6.18"));
    let have_prove = Command::new("prove").arg("--version").output().is_ok();
    (have_prove && src.join("t/lib/MemcachedTest.pm").is_file()).then_some(src)
}

#[test]
fn memcached_t_files_listed_as_passing_pass() {
    let Some(src) = suite_source() else {
        let why = "memcached's t/ suite is not fetched (run tests/memcached_suite/fetch.sh) \
                   or prove is missing";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI: {why}");
        eprintln!("skipped: {why}");
        return;
    };
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/memcached_suite/run.sh");
    let status = Command::new(run)
        .env("MEMCACHED_SUITE_SRC", &src)
        .env("CORECACHED_BIN", env!("CARGO_BIN_EXE_corecached"))
        .status()
        .expect("run tests/memcached_suite/run.sh");
    assert!(status.success(), "memcached t/ files failed: {status}");
}
