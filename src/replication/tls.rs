//! TLS on the twin link (`--repl-tls`): the certificate, key and CA read once at startup
//! into the rustls settings of both ends, and the stream a link runs over, TLS or not.
//! Both ends present their certificate and verify the other's against the CA.

use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use futures_rustls::rustls::{
    self, ClientConfig, RootCertStore, ServerConfig, crypto::CryptoProvider,
    server::WebPkiClientVerifier, version::TLS13,
};
use futures_rustls::{TlsAcceptor, TlsConnector, TlsStream};
use glommio::net::TcpStream;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// A refused twin logs one line per reason per this long: it retries every 2 s per shard.
const WARN_EVERY_MS: u64 = 10_000;

/// The files behind `--repl-tls`, as given.
pub struct TlsFiles<'a> {
    pub cert: &'a str,
    pub key: &'a str,
    pub ca: &'a str,
    /// The name the twin's certificate must carry (DNS name or IP address).
    pub twin_name: &'a str,
}

/// Both ends' TLS settings, built once and shared by every shard's link.
pub struct LinkTls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    twin_name: ServerName<'static>,
    /// The last refusal logged and when, so a twin retrying with a bad certificate is
    /// logged once per reason, not once per attempt.
    last_warn: Mutex<(String, u64)>,
}

impl std::fmt::Debug for LinkTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LinkTls {{ twin_name: {:?} }}", self.twin_name)
    }
}

impl LinkTls {
    /// Reads the files and builds both ends' settings. Err is one line naming the flag at
    /// fault, for the startup error (exit 64).
    pub fn load(files: &TlsFiles) -> Result<LinkTls, String> {
        let certs = read_certs(files.cert, "--repl-tls-cert")?;
        let key = read_key(files.key)?;
        let mut roots = RootCertStore::empty();
        for ca in read_certs(files.ca, "--repl-tls-ca")? {
            roots.add(ca).map_err(|e| {
                format!(
                    "error: --repl-tls-ca: {}: not a CA certificate: {e}",
                    files.ca
                )
            })?;
        }
        let twin_name = ServerName::try_from(files.twin_name.to_string()).map_err(|_| {
            format!(
                "error: --repl-tls-name: '{}' is not a DNS name or IP address",
                files.twin_name
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(roots);
        let server = server_config(&provider, &roots, certs.clone(), key.clone_key())?;
        let client = client_config(&provider, roots, certs, key)?;
        Ok(LinkTls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            twin_name,
            last_warn: Mutex::new((String::new(), 0)),
        })
    }

    /// The twin's side of a TLS session on an accepted connection: Err if it is not TLS
    /// or its certificate does not verify.
    pub async fn accept(&self, tcp: TcpStream) -> Result<LinkStream, String> {
        match self.acceptor.accept(tcp).await {
            Ok(s) => Ok(LinkStream::Tls(Box::new(TlsStream::Server(s)))),
            Err(e) => Err(format!("TLS handshake failed: {e}")),
        }
    }

    /// This node's side of a TLS session to the twin, checking its certificate names the
    /// twin. (Under TLS 1.3 the twin checks ours after this returns: a refusal shows as an
    /// alert on the first read.)
    pub async fn connect(&self, tcp: TcpStream) -> Result<LinkStream, String> {
        match self.connector.connect(self.twin_name.clone(), tcp).await {
            Ok(s) => Ok(LinkStream::Tls(Box::new(TlsStream::Client(s)))),
            Err(e) => {
                let hint = match e.to_string().contains("corrupt message") {
                    true => " (not TLS: is the twin running without --repl-tls?)",
                    false => "",
                };
                Err(format!("TLS handshake with the twin failed: {e}{hint}"))
            }
        }
    }

    /// Whether a refusal for `why` should be logged now (a new reason, or a while since).
    pub fn warn_due(&self, why: &str, now_ms: u64) -> bool {
        let mut last = self.last_warn.lock().unwrap();
        if last.0 == why && now_ms < last.1 + WARN_EVERY_MS {
            return false;
        }
        *last = (why.to_string(), now_ms);
        true
    }
}

fn server_config(
    provider: &Arc<CryptoProvider>,
    roots: &Arc<RootCertStore>,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, String> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| format!("error: --repl-tls-ca: {e}"))?;
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&TLS13])
        .map_err(|e| format!("error: --repl-tls: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("error: --repl-tls-key: does not fit --repl-tls-cert: {e}"))?;
    // No resumption: every link, reconnects included, verifies the twin's certificate
    // afresh. Links are few and long-lived, so a full handshake each time costs nothing.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(config)
}

fn client_config(
    provider: &Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ClientConfig, String> {
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&TLS13])
        .map_err(|e| format!("error: --repl-tls: {e}"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("error: --repl-tls-key: does not fit --repl-tls-cert: {e}"))?;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

fn read_file(path: &str, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("error: {flag}: cannot read {path}: {e}"))
}

/// Every certificate in a PEM file; Err if there is none.
fn read_certs(path: &str, flag: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(path, flag)?;
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("error: {flag}: {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("error: {flag}: {path} holds no PEM certificate"));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let flag = "--repl-tls-key";
    let pem = read_file(path, flag)?;
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| format!("error: {flag}: {path}: {e}"))?
        .ok_or_else(|| format!("error: {flag}: {path} holds no PEM private key"))
}

/// A twin link's connection: plain TCP, or TLS over it.
pub enum LinkStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for LinkStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            // A twin that dies sends no close_notify. The link's own frames show whether a
            // frame was cut short, so an end without one is just the end of the link.
            LinkStream::Tls(s) => match Pin::new(&mut **s).poll_read(cx, buf) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(0))
                }
                other => other,
            },
        }
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            LinkStream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_flush(cx),
            LinkStream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_close(cx),
            LinkStream::Tls(s) => Pin::new(&mut **s).poll_close(cx),
        }
    }
}
