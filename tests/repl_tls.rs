//! The twin link over mutual TLS (`--repl-tls`), between real nodes on 127.0.0.1 with
//! certificates made by the test (rcgen): twins converge and a killed one catches up; a
//! twin whose certificate another CA signed is refused and logged, then let in once it is
//! restarted with a good one; a plaintext twin is refused; bad files stop the start.

mod common;
use common::{BIN, Client, Server, eventually, free_port};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn num(m: &HashMap<String, String>, k: &str) -> u64 {
    m.get(k)
        .unwrap_or_else(|| panic!("no stat {k} in {m:?}"))
        .parse()
        .unwrap()
}

/// A directory of this test's files, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("cc-repltls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP").is_some() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// Writes `<name>.crt` and `<name>.key`: a node certificate for 127.0.0.1 signed by
    /// this CA, good for both ends of a link. Returns their paths.
    fn issue(&self, dir: &Dir, name: &str) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (
            dir.write(&format!("{name}.crt"), &cert.pem()),
            dir.write(&format!("{name}.key"), &key.serialize_pem()),
        )
    }

    fn write(&self, dir: &Dir, name: &str) -> String {
        dir.write(&format!("{name}.crt"), &self.cert.pem())
    }
}

/// A node's TLS flags: its certificate and key, and the CA it trusts.
fn tls_args(cert: &(String, String), ca: &str) -> Vec<String> {
    [
        "--repl-tls",
        "--repl-tls-cert",
        &cert.0,
        "--repl-tls-key",
        &cert.1,
        "--repl-tls-ca",
        ca,
    ]
    .map(str::to_string)
    .to_vec()
}

/// Starts a node on a free client port replicating on `repl` with its twin at `twin`, its
/// stderr (the log) going to `log`. A client port can be taken between its probe and the
/// bind (by a parallel test, or as the source port of a link retrying): then another.
fn node(repl: u16, twin: u16, extra: &[String], log: &str) -> Server {
    let mut last = String::new();
    for _ in 0..5 {
        match try_node(free_port(), repl, twin, extra, log) {
            Ok(s) => return s,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("node did not start: {last}: {}", read(log));
}

fn try_node(
    port: u16,
    repl: u16,
    twin: u16,
    extra: &[String],
    log: &str,
) -> Result<Server, String> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(BIN)
        .args(["-p", &port.to_string(), "-l", "127.0.0.1", "-t", "2"])
        .args([
            "-X",
            &repl.to_string(),
            "--twin",
            &format!("127.0.0.1:{twin}"),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .unwrap();
    let mut server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("exited at start ({status})"));
        }
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            return match answers_as(stream, server.child.id()) {
                true => Ok(server),
                false => Err(format!("port {port} is another process's")),
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill9();
    Err("timed out waiting for the port".into())
}

/// Whether the server on `stream` is process `pid` (its `stats` says so).
fn answers_as(mut stream: TcpStream, pid: u32) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(b"stats\r\n").is_err() {
        return false;
    }
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(b"END\r\n") {
        match stream.read(&mut chunk) {
            Ok(n) if n > 0 => got.extend_from_slice(&chunk[..n]),
            _ => return false,
        }
    }
    String::from_utf8_lossy(&got).contains(&format!("STAT pid {pid}\r\n"))
}

fn read(path: &str) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

fn repl(c: &mut Client) -> HashMap<String, String> {
    c.stats("replication")
}

fn settled(a: &mut Client, b: &mut Client) -> bool {
    let (ra, rb) = (repl(a), repl(b));
    num(&ra, "lag_records") == 0
        && num(&rb, "lag_records") == 0
        && num(&ra, "links_streaming") == 2
        && num(&rb, "links_streaming") == 2
}

#[test]
fn twins_over_mutual_tls_converge_and_a_killed_one_catches_up() {
    let dir = Dir::new("converge");
    let ca = Ca::new("twin CA");
    let ca_file = ca.write(&dir, "ca");
    let secret = dir.write("secret", "s3cret\n");
    // TLS and the secret together: the secret's handshake runs inside the TLS session.
    let with = |name: &str| {
        let mut a = tls_args(&ca.issue(&dir, name), &ca_file);
        a.extend(["--repl-secret-file".to_string(), secret.clone()]);
        a
    };
    let (args_a, args_b) = (with("a"), with("b"));
    let (ra, rb) = (free_port(), free_port());
    let (log_a, log_b) = (dir.path("a.log"), dir.path("b.log"));
    let a = node(ra, rb, &args_a, &log_a);
    let mut b = node(rb, ra, &args_b, &log_b);
    let (mut ca_, mut cb) = (a.client(), b.client());
    for i in 0..300 {
        ca_.set(&format!("a{i}"), format!("from-a-{i}").as_bytes());
        cb.set(&format!("b{i}"), format!("from-b-{i}").as_bytes());
    }
    assert!(
        eventually(20, || settled(&mut ca_, &mut cb)),
        "links did not settle; A: {} B: {}",
        read(&log_a),
        read(&log_b)
    );
    for i in 0..300 {
        assert_eq!(
            cb.get(&format!("a{i}")).unwrap(),
            format!("from-a-{i}").as_bytes()
        );
        assert_eq!(
            ca_.get(&format!("b{i}")).unwrap(),
            format!("from-b-{i}").as_bytes()
        );
    }
    let r = repl(&mut ca_);
    assert_eq!(
        (r["tls"].as_str(), r["secret_required"].as_str()),
        ("yes", "yes")
    );
    assert_eq!(num(&r, "tls_refused"), 0);
    assert_eq!(num(&r, "full_resyncs"), 2, "each of A's shards copied once");

    b.kill9();
    let value = vec![b'z'; 200];
    let mut req = Vec::new();
    for i in 0..3000 {
        req.extend_from_slice(format!("set key{i} 0 0 {}\r\n", value.len()).as_bytes());
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
    }
    ca_.send(&req);
    ca_.read_exact(3000 * 8);
    let b = node(rb, ra, &args_b, &log_b);
    let mut cb = b.client();
    // A holds its 300 keys, B's 300 and the 3000 written while B was down.
    assert!(
        eventually(30, || cb.stat("curr_items") == 3600),
        "the restarted B has {} items",
        cb.stat("curr_items")
    );
    for i in (0..3000).step_by(97) {
        assert_eq!(cb.get(&format!("key{i}")).unwrap(), value);
    }
    cb.set("after", b"restart");
    assert!(eventually(10, || ca_.get("after").is_some()));
}

#[test]
fn a_twin_with_a_certificate_from_another_ca_is_refused_until_it_has_a_good_one() {
    let dir = Dir::new("otherca");
    let (good, other) = (Ca::new("twin CA"), Ca::new("some other CA"));
    let good_file = good.write(&dir, "good");
    let args_a = tls_args(&good.issue(&dir, "a"), &good_file);
    // B trusts the right CA, but its own certificate comes from another.
    let args_bad = tls_args(&other.issue(&dir, "b-bad"), &good_file);
    let (ra, rb) = (free_port(), free_port());
    let (log_a, log_b) = (dir.path("a.log"), dir.path("b.log"));
    let a = node(ra, rb, &args_a, &log_a);
    let mut b = node(rb, ra, &args_bad, &log_b);
    let (mut ca_, mut cb) = (a.client(), b.client());
    ca_.set("from-a", b"1");
    cb.set("from-b", b"2");
    assert!(
        eventually(15, || {
            let log = read(&log_a);
            log.contains("refused twin stream from 127.0.0.1")
                && log.contains("invalid peer certificate")
        }),
        "A did not log the refusal: {}",
        read(&log_a)
    );
    // A also refuses B's certificate when A is the one connecting; B hears why.
    assert!(
        eventually(15, || read(&log_a)
            .contains("TLS handshake with the twin failed")),
        "A: {}",
        read(&log_a)
    );
    assert!(eventually(15, || read(&log_b)
        .contains("the twin refused the TLS session")));
    let refusal = read(&log_a)
        .lines()
        .filter(|l| l.contains("refused twin stream"))
        .count();
    assert!(refusal >= 1);
    assert!(num(&repl(&mut ca_), "tls_refused") >= 1);
    assert_eq!(cb.get("from-a"), None, "data crossed a refused link");
    assert_eq!(ca_.get("from-b"), None, "data crossed a refused link");
    for c in [&mut ca_, &mut cb] {
        let r = repl(c);
        assert_eq!(
            (num(&r, "links_streaming"), num(&r, "records_applied")),
            (0, 0)
        );
    }

    b.kill9();
    let args_good = tls_args(&good.issue(&dir, "b"), &good_file);
    let b = node(rb, ra, &args_good, &log_b);
    let mut cb = b.client();
    assert!(
        eventually(20, || cb.get("from-a").is_some()),
        "the link did not come up with a good certificate; B: {}",
        read(&log_b)
    );
    cb.set("from-b", b"3");
    assert!(eventually(10, || ca_.get("from-b").as_deref() == Some(b"3")));
}

#[test]
fn a_plaintext_twin_is_refused_by_a_tls_twin() {
    let dir = Dir::new("plain");
    let ca = Ca::new("twin CA");
    let ca_file = ca.write(&dir, "ca");
    let args_a = tls_args(&ca.issue(&dir, "a"), &ca_file);
    let (ra, rb) = (free_port(), free_port());
    let (log_a, log_b) = (dir.path("a.log"), dir.path("b.log"));
    let a = node(ra, rb, &args_a, &log_a);
    let b = node(rb, ra, &[], &log_b);
    let (mut ca_, mut cb) = (a.client(), b.client());
    ca_.set("from-a", b"1");
    cb.set("from-b", b"2");
    // B sends nothing until it is challenged, so one of them gives up at its handshake's
    // 5 s: A by its timer, or B first, when A sees it hang up. Both hints name the cause.
    let refused = || {
        read(&log_a)
            .lines()
            .any(|l| l.contains("refused twin stream") && l.contains("without --repl-tls"))
    };
    assert!(
        eventually(20, refused),
        "A did not log the refusal: {}",
        read(&log_a)
    );
    // And A, connecting to B, finds no TLS there.
    assert!(read(&log_a).contains("not TLS: is the twin running without --repl-tls?"));
    assert!(num(&repl(&mut ca_), "tls_refused") >= 1);
    assert_eq!(cb.get("from-a"), None, "data crossed to the plaintext twin");
    assert_eq!(
        ca_.get("from-b"),
        None,
        "data crossed from the plaintext twin"
    );
    for c in [&mut ca_, &mut cb] {
        let r = repl(c);
        assert_eq!(
            (num(&r, "links_streaming"), num(&r, "records_applied")),
            (0, 0)
        );
    }
}

/// Runs the binary with `args` and returns (exit code, stderr).
fn start_fails(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(["-p", "0", "--twin", "127.0.0.1:1"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_or_bad_files_stop_the_start_with_exit_64() {
    let dir = Dir::new("files");
    let ca = Ca::new("twin CA");
    let ca_file = ca.write(&dir, "ca");
    let (cert, key) = ca.issue(&dir, "n");
    let (_, other_key) = ca.issue(&dir, "m");
    let junk = dir.write("junk.pem", "not a pem file\n");
    let missing = dir.path("missing.pem");
    let tls =
        |c: &str, k: &str, a: &str| -> Vec<String> { tls_args(&(c.to_string(), k.to_string()), a) };
    let cases: [(Vec<String>, &str); 6] = [
        (
            tls(&missing, &key, &ca_file),
            "--repl-tls-cert: cannot read",
        ),
        (
            tls(&cert, &missing, &ca_file),
            "--repl-tls-key: cannot read",
        ),
        (tls(&cert, &key, &missing), "--repl-tls-ca: cannot read"),
        (tls(&junk, &key, &ca_file), "holds no PEM certificate"),
        (tls(&cert, &junk, &ca_file), "holds no PEM private key"),
        (
            tls(&cert, &other_key, &ca_file),
            "does not fit --repl-tls-cert",
        ),
    ];
    for (args, want) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, err) = start_fails(&args);
        assert_eq!(code, Some(64), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let (code, err) = start_fails(&["--repl-tls", "--repl-tls-cert", &cert]);
    assert_eq!(code, Some(64));
    assert!(err.contains("--repl-tls needs --repl-tls-key"), "{err}");
    let (code, err) = start_fails(&["--repl-tls-ca", &ca_file]);
    assert_eq!(code, Some(64));
    assert!(err.contains("--repl-tls-ca needs --repl-tls"), "{err}");
    assert!(Path::new(&ca_file).exists());
}
