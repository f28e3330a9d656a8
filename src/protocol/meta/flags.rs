//! memcached 1.6.18's meta flag pre-parse: one pass over the flag tokens that refuses a
//! repeated or unknown flag at once, notes bad numbers and carries on (the last such error
//! is the one reported), and collects what the shard needs into [`MetaArgs`].

use super::render::{
    ERR_BAD_TOKEN, ERR_DECODE_KEY, ERR_DELTA, ERR_DUPLICATE, ERR_FORMAT, ERR_INITIAL,
    ERR_INVALID_FLAG, ERR_M_LENGTH,
};
use crate::protocol::number::{parse_flags, parse_i32, parse_u64};
use crate::protocol::op::MetaArgs;
use base64::Engine;
use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};

/// memcached's decoder takes padded base64 whose last character carries stray low bits
/// (`Z91=` reads as `Z90=`); the `k` flag then writes the key back canonically.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Longest opaque token memcached echoes.
pub const OPAQUE_MAX: usize = 32;

/// The flags of one meta request, as the shard and the renderer need them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub args: MetaArgs,
    /// `q`: suppress the nominal reply.
    pub quiet: bool,
    /// `v`: return the value.
    pub value: bool,
    /// The longest `O` token, checked by the caller (memcached checks it late).
    pub opaque_len: usize,
}

/// Decodes a base64 key into `buf`; None when it is not valid base64 or decodes to nothing.
pub fn decode_key<'b>(key: &[u8], buf: &'b mut [u8; 256]) -> Option<&'b [u8]> {
    match LENIENT.decode_slice(key, &mut buf[..]) {
        Ok(n) if n > 0 => Some(&buf[..n]),
        _ => None,
    }
}

/// What one flag token did to the request.
enum Step {
    Ok,
    /// A bad value: noted, with memcached's message if it sets one, and parsing goes on.
    Bad(Option<&'static str>),
    Invalid,
}

/// Pre-parses `tokens` (the flags of a request whose key is `key`, as on the line).
pub fn preparse<'a>(
    tokens: impl Iterator<Item = &'a [u8]>,
    key: &[u8],
) -> Result<Flags, &'static str> {
    let args = MetaArgs {
        delta: 1,
        ..MetaArgs::default()
    };
    let mut f = Flags {
        args,
        ..Flags::default()
    };
    let mut seen = [false; 127];
    // memcached's errstr starts as the generic message; F changes only `has_error`.
    let (mut has_error, mut errstr) = (false, ERR_FORMAT);
    // Where T, N, R and O stand: their order decides which TTL a recache check sees, and
    // which flags act before a too-long opaque stops mg and ma.
    let mut at = [usize::MAX; 4];
    for (i, tok) in tokens.enumerate() {
        let o = tok[0];
        if o >= 127 || seen[o as usize] {
            return Err(ERR_DUPLICATE);
        }
        seen[o as usize] = true;
        if let Some(slot) = [b'T', b'N', b'R', b'O'].iter().position(|&c| c == o) {
            at[slot] = i;
        }
        match flag(&mut f, tok, key) {
            Step::Ok => {}
            Step::Bad(msg) => {
                has_error = true;
                errstr = msg.unwrap_or(errstr);
            }
            Step::Invalid => return Err(ERR_INVALID_FLAG),
        }
    }
    if has_error {
        return Err(errstr);
    }
    f.args.touch_before_recache = at[0] < at[2] && at[2] != usize::MAX;
    f.args.vivify_after_touch = at[0] < at[1] && at[1] != usize::MAX;
    if f.opaque_len > OPAQUE_MAX {
        f.args.opaque_error = true;
        if at[3] < at[0] {
            f.args.touch = None;
        }
        // A vivified item is made before the flags are read; N after O leaves its TTL at 0.
        if at[3] < at[1] {
            f.args.vivify = f.args.vivify.map(|_| 0);
        }
    }
    Ok(f)
}

/// Applies one flag token to `f`.
fn flag(f: &mut Flags, tok: &[u8], key: &[u8]) -> Step {
    let num = &tok[1..];
    let set = |ok: bool, msg: Option<&'static str>| if ok { Step::Ok } else { Step::Bad(msg) };
    match tok[0] {
        b'b' => {
            f.args.binary = true;
            set(
                decode_key(key, &mut [0; 256]).is_some(),
                Some(ERR_DECODE_KEY),
            )
        }
        o @ (b'N' | b'T' | b'R') => {
            let t = parse_i32(num);
            match o {
                b'N' => f.args.vivify = t,
                b'T' => f.args.touch = t,
                _ => f.args.recache = t,
            }
            set(t.is_some(), Some(ERR_BAD_TOKEN))
        }
        b'O' => {
            f.opaque_len = tok.len();
            Step::Ok
        }
        b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' | b'h' | b'l' => Step::Ok,
        b'v' => {
            f.value = true;
            Step::Ok
        }
        b'u' => {
            f.args.no_bump = true;
            Step::Ok
        }
        b'q' => {
            f.quiet = true;
            Step::Ok
        }
        b'I' => {
            f.args.stale = true;
            Step::Ok
        }
        b'F' => {
            f.args.flags = parse_flags(num).unwrap_or(0);
            set(parse_flags(num).is_some(), None)
        }
        b'C' => {
            f.args.cas = parse_u64(num);
            set(f.args.cas.is_some(), Some(ERR_BAD_TOKEN))
        }
        b'M' => {
            f.args.mode = tok.get(1).copied().unwrap_or(0);
            set(tok.len() == 2, Some(ERR_M_LENGTH))
        }
        b'J' => {
            f.args.initial = parse_u64(num).unwrap_or(0);
            set(parse_u64(num).is_some(), Some(ERR_INITIAL))
        }
        b'D' => {
            f.args.delta = parse_u64(num).unwrap_or(0);
            set(parse_u64(num).is_some(), Some(ERR_DELTA))
        }
        _ => Step::Invalid,
    }
}
