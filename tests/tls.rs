//! Client TLS (`-Z`) end to end: a rustls client speaks text, meta and binary to a two-shard
//! server with keys on both shards; `notls:` and `mtls:` listeners; a plain-text client on
//! a TLS port; `refresh_certs`; the minimum protocol version. Certificates are made at test
//! time (rcgen), a CA with a server and a client certificate under it.

mod common;

use common::{BIN, free_port};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A CA and the server and client certificates it signed, as PEM files in a fresh dir.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("corecached-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "corecached test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let pki = Pki {
            dir,
            ca_pem: ca_cert.pem(),
        };
        std::fs::write(pki.path("ca.pem"), &pki.ca_pem).unwrap();
        for (who, usage) in [
            ("server", ExtendedKeyUsagePurpose::ServerAuth),
            ("client", ExtendedKeyUsagePurpose::ClientAuth),
        ] {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            p.subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
            p.distinguished_name
                .push(DnType::CommonName, format!("corecached test {who}"));
            p.extended_key_usages = vec![usage];
            let cert = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
            std::fs::write(pki.path(&format!("{who}.pem")), cert.pem()).unwrap();
            std::fs::write(pki.path(&format!("{who}.key")), key.serialize_pem()).unwrap();
        }
        pki
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    /// A client that trusts the CA, with the client certificate when `with_cert`.
    fn client_config(
        &self,
        with_cert: bool,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let b = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        let c = if with_cert {
            let chain = CertificateDer::pem_file_iter(self.path("client.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(self.path("client.key")).unwrap();
            b.with_client_auth_cert(chain, key).unwrap()
        } else {
            b.with_no_client_auth()
        };
        Arc::new(c)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A corecached with a TLS port, a `notls:` port and an `mtls:` port.
struct TlsServer {
    child: Child,
    tls: u16,
    plain: u16,
    mutual: u16,
}

impl TlsServer {
    fn start(pki: &Pki, extra: &[&str]) -> TlsServer {
        for _ in 0..5 {
            let (tls, plain, mutual) = (free_port(), free_port(), free_port());
            let listen = format!("127.0.0.1,notls:127.0.0.1:{plain},mtls:127.0.0.1:{mutual}");
            let opts = format!(
                "ssl_chain_cert={},ssl_key={},ssl_ca_cert={}",
                pki.path("server.pem"),
                pki.path("server.key"),
                pki.path("ca.pem")
            );
            let child = Command::new(BIN)
                .args(["-p", &tls.to_string(), "-l", &listen, "-Z", "-o", &opts])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let mut s = TlsServer {
                child,
                tls,
                plain,
                mutual,
            };
            if s.wait_ready() {
                return s;
            }
        }
        panic!("the TLS server did not start");
    }

    /// Ready once the plain port reports this child's pid (another test may have bound
    /// the same free port).
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(s) = TcpStream::connect(("127.0.0.1", self.plain)) {
                let mut c = Conn::new(s);
                let pid = c.stats("").get("pid").cloned();
                return pid == Some(self.child.id().to_string());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection over any byte stream, TLS or not.
struct Conn<S: Read + Write> {
    s: S,
    buf: Vec<u8>,
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn tls_connect(port: u16, config: Arc<ClientConfig>) -> std::io::Result<Conn<Tls>> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let mut conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let mut tcp = tcp;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(Conn::new(StreamOwned::new(conn, tcp)))
}

impl<S: Read + Write> Conn<S> {
    fn new(s: S) -> Self {
        Conn { s, buf: Vec::new() }
    }

    /// Sends `req`, reads until the reply ends with `end`; an error if the server closes.
    fn try_call(&mut self, req: &[u8], end: &[u8]) -> std::io::Result<Vec<u8>> {
        self.s.write_all(req)?;
        self.s.flush()?;
        let mut chunk = [0u8; 16384];
        while !self.buf.ends_with(end) {
            match self.s.read(&mut chunk)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        Ok(std::mem::take(&mut self.buf))
    }

    fn call(&mut self, req: &str, end: &str) -> String {
        let r = self
            .try_call(req.as_bytes(), end.as_bytes())
            .expect("reply");
        String::from_utf8(r).unwrap()
    }

    /// Sends `req` and checks that exactly `want` comes back.
    fn expect(&mut self, req: &str, want: &str) {
        self.s.write_all(req.as_bytes()).unwrap();
        self.s.flush().unwrap();
        let mut got = vec![0u8; want.len()];
        self.s.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), want, "{req}");
    }

    fn stats(&mut self, sub: &str) -> std::collections::HashMap<String, String> {
        let cmd = format!("stats {sub}\r\n").replace("stats \r", "stats\r");
        self.call(&cmd, "END\r\n")
            .lines()
            .filter_map(|l| l.strip_prefix("STAT "))
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// A binary request packet (magic 0x80), opaque 0 and cas 0.
fn packet(op: u8, key: &[u8], ext: &[u8], value: &[u8]) -> Vec<u8> {
    let mut b = vec![0x80, op];
    b.extend_from_slice(&(key.len() as u16).to_be_bytes());
    b.extend_from_slice(&[ext.len() as u8, 0, 0, 0]);
    b.extend_from_slice(&((ext.len() + key.len() + value.len()) as u32).to_be_bytes());
    b.extend_from_slice(&[0; 12]);
    [b, ext.to_vec(), key.to_vec(), value.to_vec()].concat()
}

/// Reads one binary response: (status, value).
fn response<S: Read + Write>(c: &mut Conn<S>) -> (u16, Vec<u8>) {
    let mut head = [0u8; 24];
    c.s.read_exact(&mut head).unwrap();
    assert_eq!(head[0], 0x81);
    let body = u32::from_be_bytes(head[8..12].try_into().unwrap()) as usize;
    let mut rest = vec![0u8; body];
    c.s.read_exact(&mut rest).unwrap();
    let skip = head[4] as usize + u16::from_be_bytes([head[2], head[3]]) as usize;
    (
        u16::from_be_bytes([head[6], head[7]]),
        rest[skip..].to_vec(),
    )
}

#[test]
fn text_meta_and_binary_over_tls_reach_keys_on_both_shards() {
    let pki = Pki::new("protocols");
    let srv = TlsServer::start(&pki, &["-t", "2"]);
    let cfg = pki.client_config(false, BOTH);
    let mut text = tls_connect(srv.tls, cfg.clone()).unwrap();
    let keys: Vec<String> = (0..40).map(|i| format!("tls:key:{i}")).collect();
    for k in &keys {
        assert_eq!(
            text.call(&format!("set {k} 7 0 {}\r\n{k}\r\n", k.len()), "\r\n"),
            "STORED\r\n"
        );
    }
    // Both shards hold some of the keys, so the multi-get crosses shards.
    let shards = text.stats("shards");
    for s in 0..2 {
        let n: u64 = shards[&format!("shard:{s}:curr_items")].parse().unwrap();
        assert!(n > 0, "shard {s} holds none of the keys: {shards:?}");
    }
    let got = text.call(&format!("get {}\r\n", keys.join(" ")), "END\r\n");
    let want: String = keys
        .iter()
        .map(|k| format!("VALUE {k} 7 {}\r\n{k}\r\n", k.len()))
        .collect();
    assert_eq!(got, want + "END\r\n");
    // Meta on the same connection.
    assert_eq!(text.call("ms tls:meta 2 T0 F5\r\nhi\r\n", "\r\n"), "HD\r\n");
    text.expect("mg tls:meta v f\r\n", "VA 2 f5\r\nhi\r\n");
    text.expect("mg tls:key:3 k v\r\n", "VA 9 ktls:key:3\r\ntls:key:3\r\n");
    // Binary on a connection of its own: get what text stored, set, read back.
    let mut bin = tls_connect(srv.tls, cfg).unwrap();
    for k in &keys {
        bin.s
            .write_all(&packet(0x00, k.as_bytes(), &[], &[]))
            .unwrap();
        let (status, value) = response(&mut bin);
        assert_eq!((status, value), (0, k.as_bytes().to_vec()));
    }
    let ext = [0u32.to_be_bytes(), 0u32.to_be_bytes()].concat();
    bin.s
        .write_all(&packet(0x01, b"tls:bin", &ext, b"binary value"))
        .unwrap();
    assert_eq!(response(&mut bin).0, 0);
    assert_eq!(
        text.call("get tls:bin\r\n", "END\r\n"),
        "VALUE tls:bin 0 12\r\nbinary value\r\nEND\r\n"
    );
}

#[test]
fn listeners_plain_mutual_and_a_plain_client_on_a_tls_port() {
    let pki = Pki::new("listeners");
    let srv = TlsServer::start(&pki, &[]);
    // notls: serves plain text, and shares the cache with the TLS port.
    let mut plain = Conn::new(TcpStream::connect(("127.0.0.1", srv.plain)).unwrap());
    assert_eq!(
        plain.call("set shared 0 0 1\r\nx\r\n", "\r\n"),
        "STORED\r\n"
    );
    let mut tls = tls_connect(srv.tls, pki.client_config(false, BOTH)).unwrap();
    assert_eq!(
        tls.call("get shared\r\n", "END\r\n"),
        "VALUE shared 0 1\r\nx\r\nEND\r\n"
    );

    // mtls: without a client certificate the handshake fails (under TLS 1.3 the client
    // learns it at its first read); with one it serves.
    let refused = tls_connect(srv.mutual, pki.client_config(false, BOTH))
        .and_then(|mut c| c.try_call(b"version\r\n", b"\r\n"));
    assert!(
        refused.is_err(),
        "served without a certificate: {refused:?}"
    );
    let mut m = tls_connect(srv.mutual, pki.client_config(true, BOTH)).unwrap();
    assert!(m.call("version\r\n", "\r\n").starts_with("VERSION "));

    // A plain client on the TLS port is closed; the server serves on.
    let before: u64 = tls.stats("")["ssl_handshake_errors"].parse().unwrap();
    let mut wrong = TcpStream::connect(("127.0.0.1", srv.tls)).unwrap();
    wrong
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    wrong.write_all(b"version\r\n").unwrap();
    let mut got = Vec::new();
    let _ = wrong.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("VERSION"),
        "{got:?}"
    );
    let stats = tls.stats("");
    assert!(
        stats["ssl_handshake_errors"].parse::<u64>().unwrap() > before,
        "{stats:?}"
    );
    let mut again = tls_connect(srv.tls, pki.client_config(false, BOTH)).unwrap();
    assert!(again.call("version\r\n", "\r\n").starts_with("VERSION "));
}

#[test]
fn refresh_certs_serves_new_connections_the_new_certificate() {
    let pki = Pki::new("refresh");
    let srv = TlsServer::start(&pki, &[]);
    let mut c = tls_connect(srv.tls, pki.client_config(false, BOTH)).unwrap();
    let first = peer_cert(&c);
    // A new server certificate from another CA, over the same files.
    let other = Pki::new("refresh-other");
    for f in ["server.pem", "server.key"] {
        std::fs::copy(other.path(f), pki.path(f)).unwrap();
    }
    assert_eq!(c.call("refresh_certs\r\n", "\r\n"), "OK\r\n");
    let fresh = tls_connect(srv.tls, other.client_config(false, BOTH)).unwrap();
    assert_ne!(peer_cert(&fresh), first);
    assert_eq!(
        peer_cert(&c),
        first,
        "an open connection keeps its certificate"
    );
    // A file that does not load: memcached's error, and the old certificate stays.
    std::fs::write(pki.path("server.pem"), "not a certificate\n").unwrap();
    let err = c.call("refresh_certs\r\n", "\r\n");
    assert!(
        err.starts_with("Error loading the certificate chain: "),
        "{err}"
    );
    assert!(tls_connect(srv.tls, other.client_config(false, BOTH)).is_ok());
    let settings = c.stats("settings");
    assert_eq!(settings["ssl_enabled"], "yes");
    assert_eq!(settings["ssl_ca_cert"], pki.path("ca.pem"));
    assert!(c.stats("").contains_key("time_since_server_cert_refresh"));
}

fn peer_cert(c: &Conn<Tls>) -> Vec<u8> {
    c.s.conn.peer_certificates().unwrap()[0].to_vec()
}

#[test]
fn ssl_min_version_3_refuses_a_tls12_client() {
    let pki = Pki::new("version");
    let srv = TlsServer::start(&pki, &["-o", "ssl_min_version=3"]);
    let tls12 = &[&rustls::version::TLS12][..];
    let refused = tls_connect(srv.tls, pki.client_config(false, tls12))
        .and_then(|mut c| c.try_call(b"version\r\n", b"\r\n"));
    assert!(refused.is_err());
    let mut ok = tls_connect(srv.tls, pki.client_config(false, BOTH)).unwrap();
    assert_eq!(
        ok.s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert!(ok.call("version\r\n", "\r\n").starts_with("VERSION "));
}

#[test]
fn bad_tls_setups_refuse_to_start() {
    let pki = Pki::new("refuse");
    let missing = Path::new(&pki.path("nope.pem"))
        .to_string_lossy()
        .into_owned();
    for (opts, says) in [
        (
            format!("ssl_chain_cert={missing}"),
            "Error loading the certificate chain",
        ),
        (
            format!(
                "ssl_chain_cert={},ssl_key={}",
                pki.path("server.pem"),
                pki.path("client.key")
            ),
            "Error validating the certificate",
        ),
    ] {
        let out = Command::new(BIN)
            .args([
                "-p",
                &free_port().to_string(),
                "-l",
                "127.0.0.1",
                "-Z",
                "-o",
                &opts,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{opts}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{opts}: {err}");
    }
}
