//! memcached's `-s path` / `-a mask`: the server listens on a unix socket instead of TCP,
//! with the socket file's mode from `-a`, answers there like on TCP (keys still route to
//! every shard), and removes the file when it stops.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_corecached");

fn connect(path: &std::path::Path, child: &mut std::process::Child) -> UnixStream {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(s) = UnixStream::connect(path) {
            return s;
        }
        assert!(child.try_wait().unwrap().is_none(), "server exited");
        assert!(Instant::now() < deadline, "no unix socket at {path:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_a_unix_socket_with_its_mode_and_removes_it_on_exit() {
    let path = std::env::temp_dir().join(format!("corecached-test-{}.sock", std::process::id()));
    let mut child = Command::new(BIN)
        .args(["-t", "2", "-s", path.to_str().unwrap(), "-a", "0660"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stream = connect(&path, &mut child);
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let mut line = |req: &str| {
        w.write_all(req.as_bytes()).unwrap();
        let mut s = String::new();
        r.read_line(&mut s).unwrap();
        s
    };
    // Enough keys that some belong to the other shard.
    for i in 0..20 {
        assert_eq!(
            line(&format!("set k{i} 0 0 1\r\n{}\r\n", i % 10)),
            "STORED\r\n"
        );
    }
    for i in 0..20 {
        assert_eq!(
            line(&format!("get k{i}\r\n")),
            format!("VALUE k{i} 0 1\r\n")
        );
        assert_eq!(line(""), format!("{}\r\n", i % 10));
        assert_eq!(line(""), "END\r\n");
    }
    assert_eq!(
        line("stats conns\r\n"),
        format!("STAT 0:addr unix:{}\r\n", path.display())
    );

    // SAFETY: kill sends a signal to the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!path.exists(), "socket file left behind");
}
