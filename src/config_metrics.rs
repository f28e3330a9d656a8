//! `--metrics-listen ADDR:PORT`: where shard 0 serves Prometheus's `GET /metrics` (off
//! unless given).

use std::net::SocketAddr;

#[derive(clap::Args, Debug)]
pub(super) struct MetricsFlags {
    /// Serve Prometheus metrics (`GET /metrics`, text format 0.0.4) on this address, e.g.
    /// 127.0.0.1:9150. Off by default.
    #[arg(long = "metrics-listen", value_name = "ADDR:PORT")]
    metrics_listen: Option<String>,
}

/// The metrics address, if one was given; a bad one is a usage error.
pub(super) fn metrics_listen(f: &MetricsFlags) -> Result<Option<SocketAddr>, String> {
    let Some(s) = &f.metrics_listen else {
        return Ok(None);
    };
    let addr = s.parse::<SocketAddr>().map_err(|_| {
        format!("error: --metrics-listen: '{s}' is not ADDR:PORT (e.g. 127.0.0.1:9150)")
    })?;
    if addr.port() == 0 {
        return Err("error: --metrics-listen: the port must not be 0".into());
    }
    Ok(Some(addr))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::run;

    #[test]
    fn metrics_listen_is_off_unless_given_and_must_be_addr_port() {
        assert_eq!(run(&[]).unwrap().metrics_listen, None);
        let on = run(&["--metrics-listen", "127.0.0.1:9150"]).unwrap();
        assert_eq!(on.metrics_listen.unwrap().to_string(), "127.0.0.1:9150");
        let v6 = run(&["--metrics-listen", "[::1]:9150"]).unwrap();
        assert!(v6.metrics_listen.unwrap().is_ipv6());
        for bad in ["9150", "localhost", "127.0.0.1:0", "127.0.0.1:x"] {
            let e = run(&["--metrics-listen", bad]).unwrap_err();
            assert!(e.starts_with("error: --metrics-listen"), "{bad}: {e}");
        }
    }
}
