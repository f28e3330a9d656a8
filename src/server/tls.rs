//! Client TLS (`-Z`): the rustls server configurations built from memcached's `ssl_*`
//! options, the handshake that turns an accepted TCP stream into `Stream::Tls`, the
//! `refresh_certs` reload and the `ssl_*` counters. TLS ends here, before the connection
//! loop: the front ends, the routing and the shards never know a connection was encrypted.

use super::conn;
use super::shard::Shard;
use crate::config::{Config, KEYFORMAT_DER, ListenTls, TlsOptions, TlsVersion};
use crate::stats::TlsFigures;
use glommio::net::TcpStream;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{
    NoServerSessionStorage, ProducesTickets, ServerConfig, ServerSessionMemoryCache,
    StoresServerSessions, WebPkiClientVerifier,
};
use rustls::{HandshakeKind, RootCertStore};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Sessions kept for resumption with `ssl_session_cache`: OpenSSL's default cache size.
const SESSION_CACHE_ENTRIES: usize = 20 * 1024;

/// The process's TLS state, shared by every shard (`Shared::tls`).
pub struct TlsServer {
    opts: TlsOptions,
    configs: RwLock<Configs>,
    /// Kept across `refresh_certs`, so sessions made before a reload still resume; one per
    /// kind of listener, so a session made without a client certificate never resumes on
    /// an `mtls:` listener.
    resume: [Resumption; 2],
    /// Full (not resumed) handshakes: the sessions made, memcached's `ssl_new_sessions`.
    new_sessions: AtomicU64,
    handshake_errors: AtomicU64,
    loaded_at: Mutex<Instant>,
}

/// One configuration per kind of TLS listener.
struct Configs {
    tls: Arc<ServerConfig>,
    /// For `mtls:` listeners (present whenever `ssl_ca_cert` is).
    mutual: Option<Arc<ServerConfig>>,
}

impl TlsServer {
    /// Reads the certificates and builds the configurations; `None` without `-Z`. The
    /// error is memcached's message for the file that failed.
    pub fn start(cfg: &Config) -> Result<Option<Arc<TlsServer>>, String> {
        let opts = cfg.tls();
        if !opts.enabled {
            return Ok(None);
        }
        let resume = [Resumption::new(opts)?, Resumption::new(opts)?];
        let configs = build(opts, &resume)?;
        Ok(Some(Arc::new(TlsServer {
            opts: opts.clone(),
            configs: RwLock::new(configs),
            resume,
            new_sessions: AtomicU64::new(0),
            handshake_errors: AtomicU64::new(0),
            loaded_at: Mutex::new(Instant::now()),
        })))
    }

    /// `refresh_certs`: reads the files again; new connections get the new certificates,
    /// open ones keep theirs. On failure the old ones stay in force.
    pub fn refresh(&self) -> Result<(), String> {
        let configs = build(&self.opts, &self.resume)?;
        *self.configs.write().unwrap_or_else(|e| e.into_inner()) = configs;
        *self.loaded_at.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        Ok(())
    }

    /// The configuration a listener of this kind hands its connections.
    fn config_for(&self, mode: ListenTls) -> Option<Arc<ServerConfig>> {
        let c = self.configs.read().unwrap_or_else(|e| e.into_inner());
        match mode {
            ListenTls::Plain => None,
            ListenTls::Tls => Some(c.tls.clone()),
            ListenTls::Mutual => c.mutual.clone(),
        }
    }

    pub fn stats(&self) -> TlsFigures {
        let loaded = *self.loaded_at.lock().unwrap_or_else(|e| e.into_inner());
        TlsFigures {
            handshake_errors: self.handshake_errors.load(Ordering::Relaxed),
            new_sessions: self
                .opts
                .session_cache
                .then(|| self.new_sessions.load(Ordering::Relaxed)),
            secs_since_cert_refresh: loaded.elapsed().as_secs(),
        }
    }
}

/// What a listener of `mode` hands its connections: `None` serves them in plain text.
pub fn acceptor(shard: &Shard, mode: ListenTls) -> Option<Arc<ServerConfig>> {
    shard.shared.tls.as_ref()?.config_for(mode)
}

/// `refresh_certs`; the error line as memcached words it (without -Z too).
pub fn refresh_reply(shard: &Shard) -> Result<(), String> {
    match &shard.shared.tls {
        None => Err("Error TLS not enabled".to_string()),
        Some(t) => t.refresh(),
    }
}

/// Runs the handshake, then serves the connection. A client that fails it (a plain-text
/// client on a TLS port, a certificate that does not verify) is counted and closed.
pub async fn serve(shard: Rc<Shard>, tcp: TcpStream, config: Arc<ServerConfig>) {
    let _ = tcp.set_nodelay(true);
    let idle = shard.cfg().compat.ext.idle_timeout;
    if idle > 0 {
        let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(idle)));
    }
    match futures_rustls::TlsAcceptor::from(config).accept(tcp).await {
        Ok(stream) => {
            let resumed = stream.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
            if let Some(t) = shard.shared.tls.as_ref().filter(|_| !resumed) {
                t.new_sessions.fetch_add(1, Ordering::Relaxed);
            }
            conn::serve(shard, conn::Stream::Tls(Box::new(stream))).await
        }
        Err(e) => {
            tracing::debug!("TLS handshake failed: {e}");
            if let Some(t) = &shard.shared.tls {
                t.handshake_errors.fetch_add(1, Ordering::Relaxed);
            }
            shard.shared.conn_ended(shard.id);
        }
    }
}

/// How one kind of listener resumes sessions. Stateless tickets always, as OpenSSL (and so
/// memcached) issues them by default; the session-ID cache with `ssl_session_cache`, for
/// TLS 1.2 clients that do not take tickets. The tickets also matter for latency: sent
/// right after the client's Finished, they carry the ACK a client with Nagle's algorithm
/// on waits for before it sends its first request (40 ms of delayed ACK without them).
struct Resumption {
    storage: Arc<dyn StoresServerSessions>,
    ticketer: Arc<dyn ProducesTickets>,
}

impl Resumption {
    fn new(opts: &TlsOptions) -> Result<Resumption, String> {
        let storage: Arc<dyn StoresServerSessions> = if opts.session_cache {
            ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES)
        } else {
            Arc::new(NoServerSessionStorage {})
        };
        let ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| format!("Error setting up TLS session tickets: {e}"))?;
        Ok(Resumption { storage, ticketer })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Both configurations from the files, with memcached's error messages.
fn build(o: &TlsOptions, resume: &[Resumption; 2]) -> Result<Configs, String> {
    let chain_path = o.chain_cert.as_deref().unwrap_or("");
    let chain = load_chain(chain_path)?;
    let key = load_key(o.key.as_deref().unwrap_or(chain_path), o.keyformat)?;
    let roots = o.ca_cert.as_deref().map(load_roots).transpose()?;
    let verifier = |required: bool| -> Result<Arc<dyn ClientCertVerifier>, String> {
        let Some(roots) = &roots else {
            return Ok(WebPkiClientVerifier::no_client_auth());
        };
        let b = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider());
        let b = if required {
            b
        } else {
            b.allow_unauthenticated()
        };
        b.build().map_err(|e| {
            let ca = o.ca_cert.as_deref().unwrap_or("");
            format!("Error loading the CA certificate: {ca} : {e}")
        })
    };
    let make = |v: Arc<dyn ClientCertVerifier>, r: &Resumption| {
        let versions: &[&rustls::SupportedProtocolVersion] = match o.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let mut c = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| format!("Error setting the protocol versions: {e}"))?
            .with_client_cert_verifier(v)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("Error validating the certificate: {e}"))?;
        c.session_storage = r.storage.clone();
        c.ticketer = r.ticketer.clone();
        Ok::<_, String>(Arc::new(c))
    };
    let tls = match o.verify_mode {
        0 => make(WebPkiClientVerifier::no_client_auth(), &resume[0])?,
        1 => make(verifier(false)?, &resume[0])?,
        _ => make(verifier(true)?, &resume[0])?,
    };
    let mutual = match roots {
        Some(_) => Some(make(verifier(true)?, &resume[1])?),
        None => None,
    };
    Ok(Configs { tls, mutual })
}

fn load_chain(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail =
        |e: &dyn std::fmt::Display| format!("Error loading the certificate chain: {path} : {e}");
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&e))?;
    if chain.is_empty() {
        return Err(fail(&"no certificate in the file"));
    }
    Ok(chain)
}

fn load_key(path: &str, format: i32) -> Result<PrivateKeyDer<'static>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("Error loading the key: {path} : {e}");
    if format == KEYFORMAT_DER {
        let der = std::fs::read(path).map_err(|e| fail(&e))?;
        return PrivateKeyDer::try_from(der).map_err(|e| fail(&e));
    }
    PrivateKeyDer::from_pem_file(path).map_err(|e| fail(&e))
}

fn load_roots(path: &str) -> Result<Arc<RootCertStore>, String> {
    let fail =
        |e: &dyn std::fmt::Display| format!("Error loading the CA certificate: {path} : {e}");
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(&e))? {
        roots
            .add(cert.map_err(|e| fail(&e))?)
            .map_err(|e| fail(&e))?;
    }
    if roots.is_empty() {
        return Err(fail(&"no certificate in the file"));
    }
    Ok(Arc::new(roots))
}
