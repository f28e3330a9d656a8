//! The twin replication flags (`-x`, `-X`, `--repl-*`) -> [`ReplConfig`], with the rule that
//! an unauthenticated replication port listens on loopback unless told otherwise.

use super::*;
use crate::replication::tls::{LinkTls, TlsFiles};
use std::sync::Arc;

/// `--repl-tls` and its files (flattened into the command line).
#[derive(clap::Args, Debug)]
pub(super) struct ReplTlsFlags {
    /// Run the twin link over TLS 1.3 with mutual verification: each node presents
    /// --repl-tls-cert and accepts only a twin whose certificate --repl-tls-ca signed.
    #[arg(long = "repl-tls")]
    repl_tls: bool,

    /// PEM file: this node's certificate (chain) for the twin link.
    #[arg(long = "repl-tls-cert", value_name = "FILE")]
    repl_tls_cert: Option<String>,

    /// PEM file: the private key of --repl-tls-cert.
    #[arg(long = "repl-tls-key", value_name = "FILE")]
    repl_tls_key: Option<String>,

    /// PEM file: the CA certificate(s) a twin's certificate must chain to.
    #[arg(long = "repl-tls-ca", value_name = "FILE")]
    repl_tls_ca: Option<String>,

    /// Name the twin's certificate must carry (DNS name or IP address). Default: the host
    /// part of --twin.
    #[arg(long = "repl-tls-name", value_name = "NAME")]
    repl_tls_name: Option<String>,
}

/// Without --twin the link flags have nothing to act on: refuse them rather than let a
/// typo'd command line run unprotected-looking but silently unlinked.
pub(super) fn check_without_twin(cli: &Cli) -> Result<(), String> {
    let t = &cli.repl_tls;
    let given = [
        (t.repl_tls, "--repl-tls"),
        (t.repl_tls_cert.is_some(), "--repl-tls-cert"),
        (t.repl_tls_key.is_some(), "--repl-tls-key"),
        (t.repl_tls_ca.is_some(), "--repl-tls-ca"),
        (t.repl_tls_name.is_some(), "--repl-tls-name"),
    ];
    match given.iter().find(|(on, _)| *on) {
        Some((_, flag)) => Err(format!("error: {flag} needs --twin")),
        None => Ok(()),
    }
}

/// With --repl-tls: the link's TLS settings, read now so a missing or bad file stops the
/// start (exit 64) instead of every link attempt.
fn tls_config(flags: &ReplTlsFlags, twin: &str) -> Result<Option<Arc<LinkTls>>, String> {
    let files = [
        (&flags.repl_tls_cert, "--repl-tls-cert"),
        (&flags.repl_tls_key, "--repl-tls-key"),
        (&flags.repl_tls_ca, "--repl-tls-ca"),
    ];
    if !flags.repl_tls {
        let name = (&flags.repl_tls_name, "--repl-tls-name");
        return match files.iter().chain([&name]).find(|(v, _)| v.is_some()) {
            Some((_, flag)) => Err(format!("error: {flag} needs --repl-tls")),
            None => Ok(None),
        };
    }
    let mut paths = Vec::with_capacity(3);
    for (value, flag) in files {
        paths.push(
            value
                .as_deref()
                .ok_or_else(|| format!("error: --repl-tls needs {flag} FILE"))?,
        );
    }
    let host = twin.rsplit_once(':').map_or(twin, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let twin_name = flags.repl_tls_name.as_deref().unwrap_or(host);
    let files = TlsFiles {
        cert: paths[0],
        key: paths[1],
        ca: paths[2],
        twin_name,
    };
    LinkTls::load(&files).map(|t| Some(Arc::new(t)))
}

pub(super) fn repl_config(
    cli: &Cli,
    port: u16,
    twin: &str,
    listen: &[IpAddr],
) -> Result<ReplConfig, String> {
    use std::net::ToSocketAddrs;
    if twin
        .to_socket_addrs()
        .map_or(true, |mut a| a.next().is_none())
    {
        return Err(format!("error: --twin: '{twin}' is not HOST:PORT"));
    }
    let secret = match &cli.repl_secret_file {
        None => None,
        Some(path) => {
            let raw = std::fs::read(path)
                .map_err(|e| format!("error: --repl-secret-file: cannot read {path}: {e}"))?;
            let trimmed = raw.trim_ascii().to_vec();
            if trimmed.is_empty() {
                return Err(format!("error: --repl-secret-file: {path} is empty"));
            }
            Some(trimmed)
        }
    };
    let tls = tls_config(&cli.repl_tls, twin)?;
    let authenticated = secret.is_some() || tls.is_some();
    let ip = repl_listen_ip(cli, listen, authenticated || cli.repl_insecure_listen)?;
    if cli.repl_port == 0 || (cli.repl_port == port && cli.repl_listen.is_none()) {
        return Err("error: -X: the replication port must differ from -p".into());
    }
    if cli.repl_backlog_mb == 0 || cli.repl_backlog_mb > 1 << 20 {
        return Err("error: --repl-backlog-mb must be between 1 and 1048576".into());
    }
    if cli.repl_backlog_secs == 0 {
        return Err("error: --repl-backlog-secs must be at least 1".into());
    }
    Ok(ReplConfig {
        twin: twin.to_string(),
        listen: SocketAddr::new(ip, cli.repl_port),
        secret,
        tls,
        backlog_bytes: (cli.repl_backlog_mb as usize) << 20,
        backlog_secs: cli.repl_backlog_secs,
    })
}

/// Where the replication port listens. Without a secret or TLS a twin is not authenticated, so
/// unless the user opts in (`open`) it listens on loopback only: by default on the loopback
/// address of the first -l address's family, and an explicit non-loopback address is an
/// error rather than a silent change.
fn repl_listen_ip(cli: &Cli, listen: &[IpAddr], open: bool) -> Result<IpAddr, String> {
    let Some(s) = &cli.repl_listen else {
        return Ok(match listen[0] {
            ip if open || ip.is_loopback() => ip,
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        });
    };
    let ip = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map_err(|_| format!("error: --repl-listen: '{s}' is not an IP address"))?;
    if !open && !ip.is_loopback() {
        return Err(format!(
            "error: --repl-listen: {ip} is not loopback and neither --repl-secret-file nor \
             --repl-tls is set; set one, or pass --repl-insecure-listen to accept unauthenticated twins there"
        ));
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use crate::config::tests::run;

    #[test]
    fn without_a_secret_replication_listens_on_loopback_unless_told_otherwise() {
        let listen = |args: &[&str]| run(args).map(|c| c.repl.unwrap().listen.ip().to_string());
        let twin = ["--twin", "127.0.0.1:1"];
        assert_eq!(listen(&twin).unwrap(), "127.0.0.1");
        let wide = [&twin[..], &["-l", "0.0.0.0"]].concat();
        assert_eq!(listen(&wide).unwrap(), "127.0.0.1");
        let wide_v6 = [&twin[..], &["-l", "::"]].concat();
        assert_eq!(listen(&wide_v6).unwrap(), "::1");
        let opted = [&wide[..], &["--repl-insecure-listen"]].concat();
        assert_eq!(listen(&opted).unwrap(), "0.0.0.0");
        let named = [&twin[..], &["--repl-listen", "10.1.2.3"]].concat();
        let e = listen(&named).unwrap_err();
        assert!(
            e.contains("--repl-insecure-listen") && !e.contains('\n'),
            "{e}"
        );
        let named_opted = [&named[..], &["--repl-insecure-listen"]].concat();
        assert_eq!(listen(&named_opted).unwrap(), "10.1.2.3");
        let secret = std::env::temp_dir().join(format!("cc-cfg-secret-{}", std::process::id()));
        std::fs::write(&secret, "s").unwrap();
        let with_secret = [
            &named[..],
            &["--repl-secret-file", secret.to_str().unwrap()],
        ]
        .concat();
        assert_eq!(listen(&with_secret).unwrap(), "10.1.2.3");
        let _ = std::fs::remove_file(secret);
    }

    #[test]
    fn tls_flags_need_a_twin_and_each_other() {
        let err = |args: &[&str]| run(args).map(|_| ()).unwrap_err();
        assert_eq!(err(&["--repl-tls"]), "error: --repl-tls needs --twin");
        assert_eq!(
            err(&["--repl-tls-ca", "x"]),
            "error: --repl-tls-ca needs --twin"
        );
        let twin = ["--twin", "127.0.0.1:1"];
        let e = err(&[&twin[..], &["--repl-tls-cert", "c"]].concat());
        assert_eq!(e, "error: --repl-tls-cert needs --repl-tls");
        let e = err(&[&twin[..], &["--repl-tls", "--repl-tls-cert", "c"]].concat());
        assert_eq!(e, "error: --repl-tls needs --repl-tls-key FILE");
    }

    #[test]
    fn with_tls_the_port_may_listen_beyond_loopback() {
        let dir = std::env::temp_dir().join(format!("cc-cfg-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["twin.example".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let file = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p.to_string_lossy().into_owned()
        };
        let (c, k) = (
            file("c.pem", cert.pem()),
            file("k.pem", key.serialize_pem()),
        );
        let args = [
            "--twin",
            "127.0.0.1:1",
            "--repl-listen",
            "10.1.2.3",
            "--repl-tls",
            "--repl-tls-cert",
            &c,
            "--repl-tls-key",
            &k,
            "--repl-tls-ca",
            &c,
        ];
        let repl = run(&args).unwrap().repl.unwrap();
        assert_eq!(repl.listen.ip().to_string(), "10.1.2.3");
        assert!(repl.tls.is_some() && repl.secret.is_none());
        let bad_name = [&args[..], &["--repl-tls-name", "not a name!"]].concat();
        assert!(
            run(&bad_name)
                .map(|_| ())
                .unwrap_err()
                .contains("--repl-tls-name")
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
