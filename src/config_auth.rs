//! The flags that choose a connection's protocol and its authentication: memcached's `-B`,
//! `-S` with its password file, and `-Y`; and the `user:password` files both read.

/// The raw `-B`, `-S`, `--sasl-pwdb` and `-Y` values, as given.
pub(super) struct AuthFlags<'a> {
    pub protocol: Option<&'a str>,
    pub sasl: bool,
    pub sasl_pwdb: Option<&'a str>,
    pub auth_file: Option<&'a str>,
}

/// Which protocols a connection may speak (memcached's -B).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Auto,
    Ascii,
    Binary,
}

/// `user:password` pairs from a password file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials(Vec<(Vec<u8>, Vec<u8>)>);

impl Credentials {
    /// Parses `user:password` lines; the password runs to the end of its line.
    pub fn parse(text: &[u8]) -> Result<Credentials, String> {
        let mut pairs = Vec::new();
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let at = line
                .iter()
                .position(|&b| b == b':')
                .ok_or("a line has no ':' between user and password")?;
            pairs.push((line[..at].to_vec(), line[at + 1..].to_vec()));
        }
        Ok(Credentials(pairs))
    }

    fn load(path: &str, flag: &str) -> Result<Credentials, String> {
        let text =
            std::fs::read(path).map_err(|e| format!("error: {flag}: cannot read {path}: {e}"))?;
        Credentials::parse(&text).map_err(|e| format!("error: {flag}: {path}: {e}"))
    }

    /// Whether `user` and `pass` are one of the pairs; compares every byte of every pair,
    /// so the time taken does not tell how much of a guess was right.
    pub fn check(&self, user: &[u8], pass: &[u8]) -> bool {
        let same = |a: &[u8], b: &[u8]| {
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
        };
        self.0
            .iter()
            .fold(false, |ok, (u, p)| ok | (same(u, user) & same(p, pass)))
    }
}

/// `-B`, `-S` (with its password file) and `-Y`.
pub(super) fn auth_config(
    cli: &AuthFlags<'_>,
) -> Result<(Protocol, Option<Credentials>, Option<Credentials>), String> {
    let protocol = match cli.protocol {
        None | Some("auto") => Protocol::Auto,
        Some("ascii") => Protocol::Ascii,
        Some("binary") => Protocol::Binary,
        Some(other) => return Err(format!("error: -B: unknown protocol '{other}'")),
    };
    let mut sasl = None;
    if cli.sasl {
        if cli.protocol.is_some() && protocol != Protocol::Binary {
            return Err("ERROR: You cannot allow the ASCII protocol while using SASL.".into());
        }
        let path = cli
            .sasl_pwdb
            .map(str::to_owned)
            .or_else(|| std::env::var("MEMCACHED_SASL_PWDB").ok())
            .ok_or("error: -S needs a password file: --sasl-pwdb FILE or MEMCACHED_SASL_PWDB")?;
        sasl = Some(Credentials::load(&path, "--sasl-pwdb")?);
    }
    let auth_file = match &cli.auth_file {
        Some(path) => Some(Credentials::load(path, "-Y")?),
        None => None,
    };
    let protocol = if cli.sasl { Protocol::Binary } else { protocol };
    Ok((protocol, sasl, auth_file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::run;

    #[test]
    fn protocol_sasl_and_auth_files() {
        assert_eq!(run(&[]).unwrap().protocol, Protocol::Auto);
        assert_eq!(run(&["-B", "ascii"]).unwrap().protocol, Protocol::Ascii);
        assert!(run(&["-B", "udp"]).is_err());
        let pw = std::env::temp_dir().join(format!("cc-cfg-pw-{}", std::process::id()));
        std::fs::write(&pw, "alice:s3cr:et\r\n\nbob:\n").unwrap();
        let path = pw.to_str().unwrap();
        let c = run(&["-S", "--sasl-pwdb", path]).unwrap();
        assert_eq!(c.protocol, Protocol::Binary);
        let creds = c.sasl.unwrap();
        assert!(creds.check(b"alice", b"s3cr:et") && creds.check(b"bob", b""));
        assert!(!creds.check(b"alice", b"s3cr") && !creds.check(b"eve", b""));
        let e = run(&["-S", "-B", "auto", "--sasl-pwdb", path]).unwrap_err();
        assert!(e.contains("ASCII protocol while using SASL"), "{e}");
        assert!(run(&["-Y", path]).unwrap().auth_file.is_some());
        assert!(run(&["-Y", "/nonexistent/authfile"]).is_err());
        assert!(Credentials::parse(b"nocolon\n").is_err());
        let _ = std::fs::remove_file(pw);
    }
}
