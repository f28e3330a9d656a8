//! Authentication as memcached 1.6 does it: SASL PLAIN over the binary protocol (`-S`), and
//! the text protocol's authfile login (`-Y`), where a client's first command must be
//! `set <any key> <flags> <exptime> <n>` whose value is `<user> <password>`.

use super::binary::Binary;
use super::{Conn, Flow};
use crate::config::Credentials;
use crate::protocol::binary::{Reply, Status, render};
use crate::protocol::text::render as text_render;
use crate::stats::ConnCounters;

/// The one mechanism offered.
const MECHS: &[u8] = b"PLAIN";
/// memcached closes a login line that has no newline within this many bytes.
const LOGIN_LINE_MAX: usize = 2048;

impl Binary {
    pub(super) fn sasl_list(&mut self, r: Reply) {
        let on = self.shard.cfg().sasl.is_some();
        self.local(|out| match on {
            true => render::success(out, r, 0, MECHS),
            false => render::status(out, r, Status::UnknownCommand),
        });
    }

    pub(super) fn sasl_auth(&mut self, r: Reply, mech: &[u8], data: &[u8]) {
        let shard = self.shard.clone();
        let Some(creds) = &shard.cfg().sasl else {
            return self.local(|out| render::status(out, r, Status::UnknownCommand));
        };
        // An authorization id, if given, must be the user itself.
        let ok = mech == MECHS
            && plain(data).is_some_and(|(z, u, p)| (z.is_empty() || z == u) && creds.check(u, p));
        self.authed |= ok;
        self.counted(r, ok);
    }

    /// PLAIN finishes in one step, so a step is always a failed attempt.
    pub(super) fn sasl_step(&mut self, r: Reply) {
        if self.shard.cfg().sasl.is_none() {
            return self.local(|out| render::status(out, r, Status::UnknownCommand));
        }
        self.counted(r, false);
    }

    fn counted(&mut self, r: Reply, ok: bool) {
        let c = &self.shard.counters;
        ConnCounters::add(&c.auth_cmds, 1);
        if !ok {
            ConnCounters::add(&c.auth_errors, 1);
        }
        self.local(|out| match ok {
            true => render::success(out, r, 0, b"Authenticated"),
            false => render::status(out, r, Status::AuthError),
        });
    }
}

/// PLAIN's message: authorization id, user and password, separated by NULs.
fn plain(data: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut parts = data.split(|&b| b == 0);
    let (z, u, p) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then_some((z, u, p))
}

/// What the login step made of the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
enum Login {
    /// Wait for more bytes.
    Wait,
    Close,
    /// Answer `line` after consuming `consumed` bytes; `authed` when the login succeeded.
    Answer {
        consumed: usize,
        line: &'static str,
        authed: bool,
        attempt: bool,
    },
}

fn login(b: &[u8], creds: &Credentials) -> Login {
    let Some(nl) = b.iter().position(|&c| c == b'\n') else {
        return if b.len() > LOGIN_LINE_MAX {
            Login::Close
        } else {
            Login::Wait
        };
    };
    let answer = |consumed, line, authed, attempt| Login::Answer {
        consumed,
        line,
        authed,
        attempt,
    };
    let cmd = words(&b[..nl]);
    let size = cmd
        .get(4)
        .and_then(|w| std::str::from_utf8(w).ok()?.parse::<u32>().ok());
    let (true, Some(size)) = (cmd.len() >= 5 && cmd[0] == b"set", size) else {
        return answer(nl + 1, "CLIENT_ERROR unauthenticated", false, false);
    };
    let total = nl + 1 + size as usize + 2;
    if b.len() < total {
        return Login::Wait;
    }
    let value = &b[nl + 1..total];
    let Some(value) = value.strip_suffix(b"\r\n") else {
        return answer(
            total,
            "CLIENT_ERROR bad command line termination",
            false,
            false,
        );
    };
    let tokens = words(value);
    if tokens.len() < 2 {
        return answer(
            total,
            "CLIENT_ERROR bad authentication token format",
            false,
            false,
        );
    }
    if creds.check(tokens[0], tokens[1]) {
        answer(total, "STORED", true, true)
    } else {
        answer(total, "CLIENT_ERROR authentication failure", false, true)
    }
}

/// Space-separated words; a trailing `\r` is not part of the last one.
fn words(line: &[u8]) -> Vec<&[u8]> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .collect()
}

impl Conn {
    /// `-Y`: answers login attempts until one succeeds; true once the connection may speak
    /// the text protocol.
    pub(super) fn text_login(&mut self) -> (bool, Flow) {
        let shard = self.shard.clone();
        let Some(creds) = &shard.cfg().auth_file else {
            return (true, Flow::Read);
        };
        loop {
            match login(self.input.pending(), creds) {
                Login::Wait => return (false, Flow::Read),
                Login::Close => return (false, Flow::Close),
                Login::Answer {
                    consumed,
                    line,
                    authed,
                    attempt,
                } => {
                    self.input.consume(consumed);
                    if attempt {
                        ConnCounters::add(&shard.counters.auth_cmds, 1);
                        if !authed {
                            ConnCounters::add(&shard.counters.auth_errors, 1);
                        }
                    }
                    text_render::line(&mut self.text.plan.out, line);
                    if authed {
                        return (true, Flow::Read);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::parse(b"user:pass\n").unwrap()
    }

    #[test]
    fn plain_needs_three_parts() {
        assert_eq!(plain(b"\0u\0p"), Some((&b""[..], &b"u"[..], &b"p"[..])));
        assert_eq!(plain(b"u\0p"), None);
        assert_eq!(plain(b"a\0u\0p\0x"), None);
    }

    #[test]
    fn a_login_is_a_set_whose_value_is_user_and_password() {
        let ok = b"set auth 0 0 9\r\nuser pass\r\nget k\r\n";
        assert_eq!(
            login(ok, &creds()),
            Login::Answer {
                consumed: 27,
                line: "STORED",
                authed: true,
                attempt: true
            }
        );
        assert_eq!(login(&ok[..20], &creds()), Login::Wait);
        let Login::Answer { line, authed, .. } = login(b"set a 0 0 9\r\nuser nope\r\n", &creds())
        else {
            panic!()
        };
        assert_eq!(
            (line, authed),
            ("CLIENT_ERROR authentication failure", false)
        );
        let Login::Answer { line, consumed, .. } = login(b"get k\r\n", &creds()) else {
            panic!()
        };
        assert_eq!((line, consumed), ("CLIENT_ERROR unauthenticated", 7));
        assert_eq!(login(&[b'x'; 3000], &creds()), Login::Close);
    }
}
