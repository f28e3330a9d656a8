//! Binary request packets -> commands, with memcached 1.6's checks in memcached's order: the
//! magic, then the key and extras against the body length, then authentication, then the
//! key length, then each opcode's own shape. A request that fails a check becomes the
//! status memcached answers (and, where memcached closes, a close), never a wait.

use super::header::opcode::*;
use super::header::{HEADER_LEN, Header, REQUEST_MAGIC, Status};
use super::render::Reply;
use crate::protocol::op::{ArithInit, Op, StoreKind};

/// memcached's KEY_MAX_LENGTH: binary keys may say up to 65535, the store takes 250.
const KEY_MAX: usize = 250;
/// memcached's MAX_SASL_MECH_LEN.
const MECH_MAX: usize = 32;
/// SASL data is held whole; memcached refuses what its item memory would not take.
const SASL_DATA_MAX: usize = 1 << 20;

/// What one request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd<'a> {
    /// An op for the shard owning its key: get family, touch/gat, stores, delete, incr/decr.
    Op(Op<'a>),
    Flush {
        delay: i32,
    },
    Noop,
    Version,
    Quit,
    Stat {
        key: &'a [u8],
    },
    SaslList,
    SaslAuth {
        mech: &'a [u8],
        data: &'a [u8],
    },
    SaslStep {
        mech: &'a [u8],
        data: &'a [u8],
    },
    /// Answered at once with `status`; the connection closes after it when `close`.
    Error {
        status: Status,
        close: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub reply: Reply,
    pub cmd: Cmd<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not whole yet: at least `need` bytes (from the request's start) are wanted.
    Incomplete { need: usize },
    /// Not a binary request: memcached closes the connection.
    BadMagic,
    /// A store whose value is still arriving: read on if the item fits, refuse it if not.
    NeedValue {
        total: usize,
        reply: Reply,
        kind: StoreKind,
        key: &'a [u8],
        value_len: usize,
    },
    /// A request taking `consumed` bytes, after which `swallow` more are discarded.
    Done {
        consumed: usize,
        swallow: usize,
        req: Request<'a>,
    },
}

/// Parses the request at the start of `b`. `locked`: SASL is on and the connection has not
/// authenticated, so only the SASL commands and version are served.
pub fn parse(b: &[u8], locked: bool) -> Parsed<'_> {
    if b.len() < HEADER_LEN {
        return Parsed::Incomplete { need: HEADER_LEN };
    }
    let h = Header::read(b);
    if h.magic != REQUEST_MAGIC {
        return Parsed::BadMagic;
    }
    let (extlen, keylen, bodylen) = (h.extlen as usize, h.keylen as usize, h.bodylen as usize);
    let fixed = HEADER_LEN + extlen + keylen;
    if b.len() < fixed {
        return Parsed::Incomplete { need: fixed };
    }
    let (cmd, quiet) = loud(h.opcode);
    let reply = Reply {
        opcode: h.opcode,
        cmd,
        opaque: h.opaque,
        quiet,
    };
    let fail = |status: Status| Parsed::Done {
        consumed: fixed,
        swallow: 0,
        req: Request {
            reply,
            cmd: Cmd::Error {
                status,
                close: true,
            },
        },
    };
    if keylen + extlen > bodylen {
        return fail(Status::UnknownCommand);
    }
    let exempt = matches!(h.opcode, SASL_LIST_MECHS | SASL_AUTH | SASL_STEP | VERSION);
    if locked && !exempt {
        return fail(Status::AuthError);
    }
    if keylen > KEY_MAX {
        return fail(Status::InvalidArguments);
    }
    let p = Packet {
        b,
        h,
        ext: &b[HEADER_LEN..HEADER_LEN + extlen],
        key: &b[HEADER_LEN + extlen..fixed],
        fixed,
        reply,
    };
    p.command(cmd)
        .unwrap_or_else(|| fail(Status::InvalidArguments))
}

/// One request whose header, extras and key have arrived.
struct Packet<'a> {
    b: &'a [u8],
    h: Header,
    ext: &'a [u8],
    key: &'a [u8],
    fixed: usize,
    reply: Reply,
}

impl<'a> Packet<'a> {
    fn done(&self, consumed: usize, cmd: Cmd<'a>) -> Parsed<'a> {
        Parsed::Done {
            consumed,
            swallow: 0,
            req: Request {
                reply: self.reply,
                cmd,
            },
        }
    }

    /// The command `cmd` (the loud opcode); `None` when its shape is wrong.
    fn command(&self, cmd: u8) -> Option<Parsed<'a>> {
        let (ext, key, body) = (self.ext.len(), self.key.len(), self.h.bodylen as usize);
        let bare = ext == 0 && key == 0 && body == 0;
        let op = |op| Some(self.done(self.fixed, Cmd::Op(op)));
        match cmd {
            VERSION if bare => Some(self.done(self.fixed, Cmd::Version)),
            NOOP if bare => Some(self.done(self.fixed, Cmd::Noop)),
            QUIT if bare => Some(self.done(self.fixed, Cmd::Quit)),
            SASL_LIST_MECHS if bare => Some(self.done(self.fixed, Cmd::SaslList)),
            FLUSH if key == 0 && body == ext && (ext == 0 || ext == 4) => {
                let delay = if ext == 4 { time(be32(self.ext)) } else { 0 };
                Some(self.done(self.fixed, Cmd::Flush { delay }))
            }
            SET | ADD | REPLACE if ext == 8 && key != 0 && body >= key + 8 => Some(self.store(cmd)),
            APPEND | PREPEND if key != 0 && ext == 0 => Some(self.store(cmd)),
            GET | GETK if ext == 0 && body == key && key > 0 => op(Op::Get {
                key: self.key,
                touch: None,
            }),
            DELETE if key > 0 && ext == 0 && body == key => op(Op::Delete {
                key: self.key,
                cas: self.h.cas,
            }),
            INCREMENT | DECREMENT if key > 0 && ext == 20 && body == key + 20 => op(self.arith()),
            TOUCH | GAT | GATK if ext == 4 && key != 0 => op(Op::Get {
                key: self.key,
                touch: Some(time(be32(self.ext))),
            }),
            STAT if ext == 0 => Some(self.done(self.fixed, Cmd::Stat { key: self.key })),
            SASL_AUTH | SASL_STEP if ext == 0 && key != 0 => Some(self.sasl(cmd)),
            VERSION | NOOP | QUIT | SASL_LIST_MECHS | FLUSH | SET | ADD | REPLACE | APPEND
            | PREPEND | GET | GETK | DELETE | INCREMENT | DECREMENT | TOUCH | GAT | GATK | STAT
            | SASL_AUTH | SASL_STEP => None,
            // memcached discards as many bytes as the body says, after the key and extras.
            _ => Some(Parsed::Done {
                consumed: self.fixed,
                swallow: body,
                req: Request {
                    reply: self.reply,
                    cmd: Cmd::Error {
                        status: Status::UnknownCommand,
                        close: false,
                    },
                },
            }),
        }
    }

    fn store(&self, cmd: u8) -> Parsed<'a> {
        let cas = self.h.cas;
        let kind = match cmd {
            // A CAS on set, add or replace makes it a compare-and-swap, as in memcached.
            _ if cas != 0 && matches!(cmd, SET | ADD | REPLACE) => StoreKind::Cas(cas),
            SET => StoreKind::Set,
            ADD => StoreKind::Add,
            REPLACE => StoreKind::Replace,
            APPEND if cas != 0 => StoreKind::AppendCas(cas),
            APPEND => StoreKind::Append,
            _ if cas != 0 => StoreKind::PrependCas(cas),
            _ => StoreKind::Prepend,
        };
        let total = HEADER_LEN + self.h.bodylen as usize;
        let value_len = total - self.fixed;
        if self.b.len() < total {
            return Parsed::NeedValue {
                total,
                reply: self.reply,
                kind,
                key: self.key,
                value_len,
            };
        }
        let (flags, exptime) = match self.ext.len() {
            8 => (be32(self.ext), time(be32(&self.ext[4..]))),
            _ => (0, 0),
        };
        let op = Op::Store {
            kind,
            key: self.key,
            flags,
            exptime,
            value: &self.b[self.fixed..total],
        };
        self.done(total, Cmd::Op(op))
    }

    fn arith(&self) -> Op<'a> {
        let e = self.ext;
        let expiration = be32(&e[16..]);
        Op::Arith {
            incr: self.reply.cmd == INCREMENT,
            key: self.key,
            delta: u64::from_be_bytes(e[..8].try_into().unwrap()),
            // An expiration of all ones means: do not create on a miss.
            init: (expiration != u32::MAX).then(|| ArithInit {
                value: u64::from_be_bytes(e[8..16].try_into().unwrap()),
                exptime: time(expiration),
            }),
            cas: self.h.cas,
        }
    }

    fn sasl(&self, cmd: u8) -> Parsed<'a> {
        let data_len = self.h.bodylen as usize - self.key.len();
        let refuse = |status| Parsed::Done {
            consumed: self.fixed,
            swallow: data_len,
            req: Request {
                reply: self.reply,
                cmd: Cmd::Error {
                    status,
                    close: false,
                },
            },
        };
        if self.key.len() > MECH_MAX {
            return refuse(Status::InvalidArguments);
        }
        if data_len > SASL_DATA_MAX {
            return refuse(Status::OutOfMemory);
        }
        let total = self.fixed + data_len;
        if self.b.len() < total {
            return Parsed::Incomplete { need: total };
        }
        let (mech, data) = (self.key, &self.b[self.fixed..total]);
        let c = if cmd == SASL_AUTH {
            Cmd::SaslAuth { mech, data }
        } else {
            Cmd::SaslStep { mech, data }
        };
        self.done(total, c)
    }
}

/// The key (if any) and length of the whole request at the start of `b`, for prefetching
/// the keys of requests queued behind the one being served; `None` when it has not all
/// arrived or is not one of the shapes whose length is its body (the walk stops there).
pub fn peek(b: &[u8]) -> Option<(Option<&[u8]>, usize)> {
    if b.len() < HEADER_LEN || b[0] != REQUEST_MAGIC {
        return None;
    }
    let h = Header::read(b);
    let fixed = HEADER_LEN + h.extlen as usize + h.keylen as usize;
    let total = HEADER_LEN + h.bodylen as usize;
    if total < fixed || b.len() < total {
        return None;
    }
    let key = &b[fixed - h.keylen as usize..fixed];
    match loud(h.opcode).0 {
        GET | GETK | DELETE | INCREMENT | DECREMENT | TOUCH | GAT | GATK if total == fixed => {
            Some((Some(key), total))
        }
        SET | ADD | REPLACE | APPEND | PREPEND => Some((Some(key), total)),
        NOOP | VERSION | FLUSH if total == fixed => Some((None, total)),
        _ => None,
    }
}

/// A binary exptime or delay: memcached reads it unsigned, so one of 2^31 or more is a time
/// far ahead (after 2038), never a negative "already expired". Capped at i32::MAX, which
/// is still an absolute time decades ahead.
fn time(v: u32) -> i32 {
    v.min(i32::MAX as u32) as i32
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap())
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
