//! A first run as a newcomer makes it: one startup line at the default log level, no colour
//! escapes in a log file, and every bad command line refused in one style with memcached's
//! exit statuses (64 for a bad value, 67 for a `-u` user that does not exist).

mod common;
use common::logged::LoggedServer;
use common::{BIN, run_with};
use std::process::{Command, Stdio};

#[test]
fn the_default_log_level_prints_one_startup_line_without_colour() {
    let mut s = LoggedServer::start(&["-t", "2", "-m", "32"]);
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit().and_then(|st| st.code()), Some(0));
    let log = s.text();
    let first = log.lines().next().unwrap_or_default();
    for part in [
        "corecached ",
        &format!("tcp 127.0.0.1:{}", s.port),
        "udp off",
        "2 shards",
        "32 MB",
        "twin none",
    ] {
        assert!(first.contains(part), "{part:?} missing from {first:?}");
    }
    assert!(
        !log.contains('\x1b'),
        "colour escapes in a log file:\n{log}"
    );
    assert!(!log.contains("WARN"), "{log}");
}

#[test]
fn bad_values_are_one_line_in_one_style_with_status_64() {
    for (args, want) in [
        (&["-m", "-5"][..], "error: -m: memory limit must be between"),
        (
            &["-p", "99999"],
            "error: -p: port must be between -1 and 65535",
        ),
        (&["-p", "x"], "error: -p: 'x' is not valid"),
        (&["-c", "-1"], "error: -c: '-1' is not valid"),
        (
            &["-t", "0"],
            "error: -t: threads must be between 1 and 1024",
        ),
        (&["--bogus"], "error: --bogus: no such flag"),
        (
            &["--repl-secret-file", "/etc/hostname"],
            "error: --repl-secret-file: only has an effect with --twin",
        ),
    ] {
        let (code, text) = run_with(args);
        assert_eq!(code, 64, "{args:?}: {text}");
        assert_eq!(text.trim().lines().count(), 1, "{args:?}: {text}");
        assert!(text.starts_with(want), "{args:?}: {text}");
    }
}

#[test]
fn an_unknown_user_is_refused_like_memcached() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        // -u only applies when started as root, as in memcached.
        common::skipped("root not available (-u applies only to root)");
        return;
    }
    let port = common::free_port().to_string();
    let (code, text) = run_with(&["-p", &port, "-l", "127.0.0.1", "-u", "nosuchuser"]);
    assert_eq!(code, 67, "{text}");
    assert_eq!(
        text.trim(),
        "error: -u: can't find the user nosuchuser to switch to"
    );
}

#[test]
fn help_names_the_drain_timeout() {
    let (code, text) = run_with(&["--help"]);
    assert_eq!(code, 0);
    assert!(text.contains("--drain-timeout"), "{text}");
}

/// `-p 0` alone serves nothing, but memcached runs so (its t/issue_67 starts it that way):
/// it runs, and says so.
#[test]
fn port_zero_alone_runs_and_warns_that_nothing_listens() {
    let log = std::env::temp_dir().join(format!("corecached-p0-{}.txt", std::process::id()));
    let mut child = Command::new(BIN)
        .args(["-p", "0", "-l", "127.0.0.1", "-t", "1"])
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !text().contains("no client listener") {
        assert!(child.try_wait().unwrap().is_none(), "exited: {}", text());
        assert!(
            std::time::Instant::now() < deadline,
            "no warning: {}",
            text()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(text().contains("tcp off, udp off"), "{}", text());
    // SAFETY: signalling our own child process by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_file(&log);
}
