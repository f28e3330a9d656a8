//! Client TLS settings with memcached's interface: `-Z`, its `-o ssl_*` options, and the
//! `-l` listener specs (`notls:` and `mtls:` prefixes, an optional `:port` per address).
//! Only values are checked here; the certificate files are read when the server starts.

use super::Config;
use std::net::{IpAddr, SocketAddr};

/// memcached's `SSL_FILETYPE_PEM` and `SSL_FILETYPE_ASN1`, the `ssl_keyformat` values.
pub const KEYFORMAT_PEM: i32 = 1;
pub const KEYFORMAT_DER: i32 = 2;

/// The lowest protocol version a client may use. rustls speaks only TLS 1.2 and 1.3, so
/// memcached's 0 (TLS 1.0) and 1 (TLS 1.1) are taken as 1.2 (docs/security.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// As memcached's `ssl_proto_text` names it.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "tlsv1.2",
            TlsVersion::Tls13 => "tlsv1.3",
        }
    }
}

/// `-Z` and the `-o ssl_*` options, with memcached's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsOptions {
    /// `-Z` / `--enable-ssl`: TCP listeners speak TLS unless marked `notls:`.
    pub enabled: bool,
    pub chain_cert: Option<String>,
    /// Absent: the key is read from the chain file.
    pub key: Option<String>,
    pub keyformat: i32,
    /// memcached's 0 none, 1 request, 2 require, 3 once (rustls never renegotiates, so
    /// "once" is "require").
    pub verify_mode: u8,
    /// Accepted and reported; rustls offers its own fixed list of modern suites.
    pub ciphers: Option<String>,
    pub ca_cert: Option<String>,
    /// Reported only: rustls sizes its own record buffers.
    pub wbuf_size: u32,
    pub session_cache: bool,
    pub kernel_tls: bool,
    pub min_version: TlsVersion,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            enabled: false,
            chain_cert: None,
            key: None,
            keyformat: KEYFORMAT_PEM,
            verify_mode: 0,
            ciphers: None,
            ca_cert: None,
            wbuf_size: 16 << 10,
            session_cache: false,
            kernel_tls: false,
            min_version: TlsVersion::Tls12,
        }
    }
}

/// Takes one `-o` option if it is a TLS one (`None` otherwise), with memcached's messages
/// for a missing or bad value. `notes` gets what was accepted with a different effect.
pub(super) fn apply(
    tls: &mut TlsOptions,
    notes: &mut Vec<String>,
    name: &str,
    value: Option<&str>,
) -> Option<Result<(), String>> {
    if !name.starts_with("ssl_") {
        return None;
    }
    Some(set(tls, notes, name, value))
}

fn set(
    tls: &mut TlsOptions,
    notes: &mut Vec<String>,
    name: &str,
    value: Option<&str>,
) -> Result<(), String> {
    let need = || value.ok_or_else(|| format!("Missing {name} argument"));
    let number = || -> Result<i64, String> {
        need()?
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("could not parse argument to {name}"))
    };
    match name {
        "ssl_chain_cert" => tls.chain_cert = Some(need()?.to_string()),
        "ssl_key" => tls.key = Some(need()?.to_string()),
        "ssl_ciphers" => tls.ciphers = Some(need()?.to_string()),
        "ssl_ca_cert" => tls.ca_cert = Some(need()?.to_string()),
        "ssl_keyformat" => tls.keyformat = number()? as i32,
        "ssl_verify_mode" => {
            tls.verify_mode = u8::try_from(number()?)
                .ok()
                .filter(|m| *m <= 3)
                .ok_or("Invalid ssl_verify_mode. Use help to see valid options.")?
        }
        "ssl_wbuf_size" => {
            tls.wbuf_size = u32::try_from(number()?)
                .ok()
                .and_then(|k| k.checked_mul(1024))
                .ok_or_else(|| format!("could not parse argument to {name}"))?
        }
        "ssl_session_cache" => tls.session_cache = true,
        "ssl_kernel_tls" => tls.kernel_tls = true,
        "ssl_min_version" => {
            let (v, note) = min_version(need()?)?;
            tls.min_version = v;
            notes.extend(note);
        }
        _ => return Err(format!("Illegal suboption \"{name}\"")),
    }
    Ok(())
}

/// memcached's numbers 0 to 3, and (ours) the names it prints.
fn min_version(v: &str) -> Result<(TlsVersion, Option<String>), String> {
    let old = |n: &str| {
        let note = format!("ssl_min_version={n} (TLS 1.0 and 1.1 are not offered: TLS 1.2)");
        Ok((TlsVersion::Tls12, Some(note)))
    };
    match v.trim() {
        "0" | "tlsv1.0" => old(v),
        "1" | "tlsv1.1" => old(v),
        "2" | "tlsv1.2" => Ok((TlsVersion::Tls12, None)),
        "3" | "tlsv1.3" => Ok((TlsVersion::Tls13, None)),
        s if s.parse::<i64>().is_ok() => {
            Err("Invalid ssl_min_version. Use help to see valid options.".into())
        }
        _ => Err("could not parse argument to ssl_min_version".into()),
    }
}

/// What a TCP listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenTls {
    Plain,
    /// TLS, client certificates as `ssl_verify_mode` says.
    Tls,
    /// `mtls:`: TLS, and a client certificate that verifies against `ssl_ca_cert` is
    /// required whatever `ssl_verify_mode` says.
    Mutual,
}

/// One `-l` entry: an address, perhaps its own port, and what it speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub ip: IpAddr,
    pub port: Option<u16>,
    pub tls: ListenTls,
}

/// `-l`: comma (or semicolon) separated `[notls:|mtls:]ADDR[:PORT]`, an IPv6 address
/// perhaps in brackets (`[::1]:11211`); memcached's syntax plus the `mtls:` prefix.
pub(super) fn parse_listen(list: &str, tls: &TlsOptions) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    for spec in list.split([',', ';']).map(str::trim) {
        let (mode, rest) = if let Some(r) = spec.strip_prefix("notls:") {
            (ListenTls::Plain, r)
        } else if let Some(r) = spec.strip_prefix("mtls:") {
            (ListenTls::Mutual, r)
        } else if tls.enabled {
            (ListenTls::Tls, spec)
        } else {
            (ListenTls::Plain, spec)
        };
        if mode != ListenTls::Tls && rest.len() != spec.len() && !tls.enabled {
            let prefix = &spec[..spec.len() - rest.len() - 1];
            return Err(format!(
                "error: -l: '{prefix}' option is valid only when SSL is enabled (-Z)"
            ));
        }
        if mode == ListenTls::Mutual && tls.ca_cert.is_none() {
            return Err("error: -l: an 'mtls' listener needs -o ssl_ca_cert=FILE".into());
        }
        let (ip, port) = address(rest)?;
        out.push(Listener {
            ip,
            port,
            tls: mode,
        });
    }
    Ok(out)
}

/// `ADDR`, `ADDR:PORT`, `[V6]`, `[V6]:PORT` or a bare IPv6 address.
fn address(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    let bad_ip = |a: &str| format!("error: -l: '{a}' is not an IP address");
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("error: -l: invalid port number: \"{p}\""))
    };
    if let Some(inner) = s.strip_prefix('[') {
        let (ip, after) = inner.split_once(']').ok_or_else(|| bad_ip(s))?;
        let ip = ip.parse().map_err(|_| bad_ip(ip))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((ip, Some(port(p)?))),
            None if after.is_empty() => Ok((ip, None)),
            None => Err(bad_ip(s)),
        };
    }
    match s.split_once(':') {
        Some((ip, p)) if !p.contains(':') => {
            Ok((ip.parse().map_err(|_| bad_ip(ip))?, Some(port(p)?)))
        }
        _ => Ok((s.parse().map_err(|_| bad_ip(s))?, None)),
    }
}

/// What must hold once every flag is read: memcached's startup refusals, and ours where
/// rustls cannot do what was asked.
pub(super) fn check(tls: &TlsOptions, tcp_on: bool) -> Result<(), String> {
    if !tls.enabled {
        return Ok(());
    }
    if !tcp_on {
        return Err("ERROR: You cannot enable SSL without a TCP port.".into());
    }
    if tls.chain_cert.is_none() {
        return Err(
            "error: -Z needs -o ssl_chain_cert=FILE (and ssl_key=FILE unless the key \
                    is in that file)"
                .into(),
        );
    }
    if tls.keyformat != KEYFORMAT_PEM && tls.keyformat != KEYFORMAT_DER {
        return Err(format!(
            "error: ssl_keyformat={}: only 1 (PEM) and 2 (DER) are supported",
            tls.keyformat
        ));
    }
    if tls.verify_mode > 0 && tls.ca_cert.is_none() {
        return Err(format!(
            "error: ssl_verify_mode={} needs -o ssl_ca_cert=FILE to verify client certificates",
            tls.verify_mode
        ));
    }
    if tls.kernel_tls {
        return Err("Kernel TLS offload is not available".into());
    }
    Ok(())
}

impl Config {
    /// The TCP listen sockets and what each speaks: none with `-p 0`.
    pub fn tcp_listeners(&self) -> Vec<(SocketAddr, ListenTls)> {
        if self.port == 0 && !self.compat.ephemeral.tcp {
            return Vec::new();
        }
        self.listeners
            .iter()
            .map(|l| (SocketAddr::new(l.ip, l.port.unwrap_or(self.port)), l.tls))
            .collect()
    }

    pub fn tls(&self) -> &TlsOptions {
        &self.compat.ext.tls
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::run;

    #[test]
    fn listener_specs_take_prefixes_and_ports() {
        let on = TlsOptions {
            enabled: true,
            ca_cert: Some("ca.pem".into()),
            ..Default::default()
        };
        let l = parse_listen("notls:127.0.0.1:7000,127.0.0.1,mtls:[::1]:7001,::1", &on).unwrap();
        let got: Vec<_> = l
            .iter()
            .map(|l| (l.ip.to_string(), l.port, l.tls))
            .collect();
        assert_eq!(
            got,
            vec![
                ("127.0.0.1".into(), Some(7000), ListenTls::Plain),
                ("127.0.0.1".into(), None, ListenTls::Tls),
                ("::1".into(), Some(7001), ListenTls::Mutual),
                ("::1".into(), None, ListenTls::Tls),
            ]
        );
        let off = TlsOptions::default();
        assert!(parse_listen("notls:127.0.0.1", &off).is_err());
        assert!(parse_listen("mtls:127.0.0.1", &off).is_err());
        assert!(parse_listen("127.0.0.1:x", &off).is_err());
        let no_ca = TlsOptions {
            enabled: true,
            ..Default::default()
        };
        assert!(parse_listen("mtls:127.0.0.1", &no_ca).is_err());
    }

    #[test]
    fn ssl_options_as_memcached_takes_them() {
        let c = run(&[
            "-Z",
            "-o",
            "ssl_chain_cert=c.pem,ssl_key=k.pem,ssl_verify_mode=3,ssl_ca_cert=ca.pem",
            "-o",
            "ssl_wbuf_size=64,ssl_session_cache,ssl_min_version=3,ssl_ciphers=HIGH",
        ])
        .unwrap();
        let t = c.tls();
        assert!(t.enabled && t.session_cache);
        assert_eq!((t.verify_mode, t.wbuf_size), (3, 64 << 10));
        assert_eq!(t.min_version, TlsVersion::Tls13);
        assert_eq!(t.ciphers.as_deref(), Some("HIGH"));
        let old = run(&["-Z", "-o", "ssl_chain_cert=c.pem,ssl_min_version=0"]).unwrap();
        assert_eq!(old.tls().min_version, TlsVersion::Tls12);
        for bad in [
            &["-Z"][..],
            &["-Z", "-p", "0", "-o", "ssl_chain_cert=c"],
            &["-Z", "-o", "ssl_chain_cert=c,ssl_verify_mode=2"],
            &["-Z", "-o", "ssl_chain_cert=c,ssl_keyformat=3"],
            &["-Z", "-o", "ssl_chain_cert=c,ssl_kernel_tls"],
            &["-o", "ssl_verify_mode=4"],
            &["-o", "ssl_min_version=9"],
            &["-o", "ssl_chain_cert"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
    }
}
