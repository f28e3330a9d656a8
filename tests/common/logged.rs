//! A server whose stderr goes to a file the test reads: for what an operator sees (the
//! startup line, the stop's phases), which `Server` leaves on the test's own stderr.

use super::{BIN, free_port};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LoggedServer {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl LoggedServer {
    /// Starts corecached with `args` (plus -p and -l) and waits for its startup line, which
    /// it logs once its listeners serve.
    pub fn start(args: &[&str]) -> LoggedServer {
        let mut last = String::new();
        // A free port can be taken by a parallel test between the probe and the bind.
        for attempt in 0..5 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!(
                "corecached-log-{}-{port}-{attempt}.txt",
                std::process::id()
            ));
            let file = std::fs::File::create(&log).unwrap();
            let child = Command::new(BIN)
                .args(["-p", &port.to_string(), "-l", "127.0.0.1"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(file)
                .spawn()
                .unwrap();
            let mut s = LoggedServer { child, port, log };
            match s.wait_for(&format!("tcp 127.0.0.1:{port}"), Duration::from_secs(15)) {
                true => return s,
                false => last = s.text(),
            }
        }
        panic!("server did not start: {last}");
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until the log holds `what`; false if the server exited first.
    pub fn wait_for(&mut self, what: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.text().contains(what) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.text().contains(what);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits (bounded, 15 s) for the exit status.
    pub fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: signalling our own child process by its pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
