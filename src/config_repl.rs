//! The twin replication flags (`-x`, `-X`, `--repl-*`) -> [`ReplConfig`], with the rule that
//! an unauthenticated replication port listens on loopback unless told otherwise.

use super::*;

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
    let ip = repl_listen_ip(cli, listen, secret.is_some() || cli.repl_insecure_listen)?;
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
        backlog_bytes: (cli.repl_backlog_mb as usize) << 20,
        backlog_secs: cli.repl_backlog_secs,
    })
}

/// Where the replication port listens. Without a secret a twin is not authenticated, so
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
            "error: --repl-listen: {ip} is not loopback and no --repl-secret-file is set; \
             set one, or pass --repl-insecure-listen to accept unauthenticated twins there"
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
}
