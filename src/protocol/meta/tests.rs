//! The meta parser and renderer on their own: memcached 1.6.18's check order and error
//! texts, flags in any order, and replies with return flags in request order.

use super::render::*;
use super::*;
use crate::protocol::op::{Item, MetaCmd, MetaHit, MetaOutcome, MetaStatus, MetaTimes, Outcome};
use crate::protocol::text::{Parsed, Request as TextRequest, parse};
use proptest::prelude::*;

fn meta(buf: &[u8]) -> Request<'_> {
    match parse(buf) {
        Parsed::Done {
            req: TextRequest::Meta(m),
            consumed,
        } => {
            assert_eq!(consumed, buf.len());
            m
        }
        other => panic!("{other:?}"),
    }
}

fn err(buf: &[u8]) -> &'static str {
    match parse(buf) {
        Parsed::Done {
            req: TextRequest::Error { msg, .. },
            ..
        } => msg,
        Parsed::Swallow { msg, .. } => msg,
        other => panic!("{other:?}"),
    }
}

#[test]
fn mg_flags_become_args() {
    let m = meta(b"mg key T30 N10 R5 v q u O1 k\r\n");
    assert_eq!(
        (m.cmd, m.key, m.tokens),
        (MetaCmd::Get, &b"key"[..], &b"T30 N10 R5 v q u O1 k"[..])
    );
    let a = m.flags.args;
    assert_eq!(
        (a.touch, a.vivify, a.recache),
        (Some(30), Some(10), Some(5))
    );
    assert!(a.no_bump && a.touch_before_recache && a.vivify_after_touch);
    assert!(m.flags.quiet && m.flags.value);
    let m = meta(b"mg key R5 N1 T30\r\n");
    assert!(!m.flags.args.touch_before_recache && !m.flags.args.vivify_after_touch);
}

#[test]
fn errors_in_memcached_order() {
    assert_eq!(err(b"mg\r\n"), ERROR);
    assert_eq!(err(b"mx key\r\n"), ERROR);
    assert_eq!(err(b"mg key v v\r\n"), ERR_DUPLICATE);
    assert_eq!(err(b"mg key E1\r\n"), ERR_INVALID_FLAG);
    // Bad numbers are noted and parsing goes on: a later unknown flag wins.
    assert_eq!(err(b"mg key Tx E1\r\n"), ERR_INVALID_FLAG);
    assert_eq!(err(b"mg key Tx\r\n"), ERR_BAD_TOKEN);
    assert_eq!(err(b"mg key Jx Dx\r\n"), ERR_DELTA);
    assert_eq!(err(b"mg key \xff\r\n"), ERR_DUPLICATE);
    assert_eq!(err(b"mg a== b\r\n"), ERR_DECODE_KEY);
    assert_eq!(err(b"md key v v\r\n"), ERR_INVALID_OR_DUP);
    assert_eq!(err(b"ma key Dx\r\n"), ERR_INVALID_OR_DUP);
    assert_eq!(err(b"ma key Mz\r\n"), ERR_MA_MODE);
    assert_eq!(err(b"ma key Mzz\r\n"), ERR_INVALID_OR_DUP);
    let long_opaque = format!("md key O{}\r\n", "1".repeat(32));
    assert_eq!(err(long_opaque.as_bytes()), ERR_OPAQUE);
    let key = "k".repeat(251);
    assert_eq!(err(format!("mg {key} v\r\n").as_bytes()), ERR_FORMAT);
    let many = format!("mg key{}\r\n", " s".repeat(18));
    assert_eq!(err(many.as_bytes()), ERR_FLAGS_LONG);
    let many = format!("md key{}\r\n", " s".repeat(18));
    assert_eq!(err(many.as_bytes()), ERR_FLAGS_TOO_LONG);
    assert_eq!(err(b"me\r\n"), ERR_FORMAT);
    assert_eq!(err(b"me *** b\r\n"), ERR_FORMAT);
}

#[test]
fn ms_swallows_its_data_after_a_flag_error_only() {
    assert_eq!(
        parse(b"ms key 2 Mz\r\n"),
        Parsed::Swallow {
            total: 17,
            msg: ERR_MS_MODE
        }
    );
    assert_eq!(err(b"ms key 2 F1 S2\r\nab\r\n"), ERR_INVALID_FLAG);
    // No usable length: nothing is swallowed, the data line is the next request.
    assert_eq!(
        parse(b"ms key x\r\nab\r\n"),
        Parsed::Done {
            consumed: 10,
            req: TextRequest::Error {
                msg: ERR_FORMAT,
                noreply: false
            }
        }
    );
    assert_eq!(err(b"ms key\r\n"), ERR_FORMAT);
    assert!(matches!(
        parse(b"ms key 5 T1\r\nab"),
        Parsed::MetaNeedData {
            total: 20,
            value_len: 5,
            ..
        }
    ));
    assert_eq!(err(b"ms key 1 T1\r\nabc\r\n"), ERR_DATA_CHUNK);
    let m = meta(b"ms key 2 T1 F3 C9 I MR\r\nab\r\n");
    let a = m.flags.args;
    assert_eq!(
        (m.value, a.flags, a.cas, a.mode),
        (&b"ab"[..], 3, Some(9), b'R')
    );
    assert!(a.stale);
}

#[test]
fn base64_keys_decode_for_the_shard_and_stay_as_sent_for_the_reply() {
    let m = meta(b"mg Zm9v b k\r\n");
    let mut buf = [0; 256];
    assert_eq!((m.key, m.key(&mut buf)), (&b"Zm9v"[..], &b"foo"[..]));
    let m = meta(b"me Zm9v b\r\n");
    assert_eq!(m.key(&mut buf), b"foo");
    assert_eq!(
        parse(b"mn\r\n"),
        Parsed::Done {
            consumed: 4,
            req: TextRequest::MetaNoop
        }
    );
}

/// Found by fuzzing meta_parse against memcached 1.6.18: stray bits in the last base64
/// character are ignored there, and `k` answers with the canonical spelling.
#[test]
fn base64_keys_with_stray_trailing_bits_decode_as_memcached_does() {
    let mut buf = [0; 256];
    assert_eq!(meta(b"mg Z91= b k\r\n").key(&mut buf), &[0x67, 0xdd][..]);
    assert_eq!(
        render(b"mg Z91= b k\r\n", MetaOutcome::Miss),
        "EN kZ90= b\r\n"
    );
    // Padding is still required and must be right.
    assert_eq!(err(b"mg Zm9 b\r\n"), ERR_DECODE_KEY);
    assert_eq!(err(b"mg Zm9=== b\r\n"), ERR_DECODE_KEY);
}

fn render(req: &[u8], o: MetaOutcome<'_>) -> String {
    let m = meta(req);
    let e = Echo {
        cmd: m.cmd,
        flags: &m.flags,
        key: m.key,
        tokens: m.tokens,
    };
    let mut out = Vec::new();
    outcome(&mut out, Some(&Outcome::Meta(o)), &e);
    String::from_utf8(out).unwrap()
}

#[test]
fn hits_write_flags_in_request_order_then_zxw() {
    let hit = MetaHit {
        item: Item {
            key: b"foo",
            flags: 5,
            value: b"hi",
            cas: 77,
        },
        times: MetaTimes {
            now: 1000,
            exp: 1100,
            exp_touch: 1030,
            exp_vivify: 0,
            created: false,
        },
        idle: 3,
        fetched: true,
        token_sent: true,
        stale: true,
        won: false,
        binary: false,
    };
    let o = MetaOutcome::Hit(hit);
    assert_eq!(
        render(b"mg foo t T30 s c f l h O9 k v\r\n", o),
        "VA 2 t100 s2 c77 f5 l3 h1 O9 kfoo Z X\r\nhi\r\n"
    );
    assert_eq!(render(b"mg foo T30 t\r\n", o), "HD t30 Z X\r\n");
    let won = MetaOutcome::Hit(MetaHit {
        won: true,
        token_sent: false,
        stale: false,
        ..hit
    });
    assert_eq!(render(b"mg foo\r\n", won), "HD W\r\n");
    assert_eq!(render(b"mg foo q k\r\n", MetaOutcome::Miss), "");
    assert_eq!(
        render(b"mg foo k O1\r\n", MetaOutcome::Miss),
        "EN kfoo O1\r\n"
    );
    assert_eq!(
        render(b"md Zm9v b k\r\n", MetaOutcome::Miss),
        "NF kZm9v b\r\n"
    );
    let stored = MetaOutcome::Status {
        status: MetaStatus::Stored,
        cas: 9,
    };
    assert_eq!(
        render(b"ms foo 0 c k O2\r\n\r\n", stored),
        "HD c9 kfoo O2\r\n"
    );
    assert_eq!(render(b"ms foo 0 q c\r\n\r\n", stored), "");
    assert_eq!(render(b"md foo q c\r\n", stored), "");
    assert_eq!(render(b"md foo c\r\n", stored), "HD\r\n");
}

/// Valid flags that take no number, and ones that do (at most 15 of them are picked, so
/// one more stays within memcached's token limit).
const PLAIN: &[&str] = &[
    "k", "s", "t", "c", "f", "v", "h", "l", "u", "q", "O5", "P", "L", "I",
];
const NUMBERS: &[&str] = &["T10", "N20", "R30", "C5", "F7", "MD", "D3", "J4"];

proptest! {
    /// memcached's pre-parse does not care about order: any permutation of distinct valid
    /// flags gives the same arguments (the two order bits aside); one repeated flag
    /// anywhere is a duplicate, and one unknown flag anywhere is invalid.
    #[test]
    fn flag_order_does_not_change_the_request(
        picks in proptest::sample::subsequence(PLAIN.to_vec(), 0..8),
        numbers in proptest::sample::subsequence(NUMBERS.to_vec(), 0..8),
        seed in any::<u64>(), dup in any::<prop::sample::Index>(),
    ) {
        let mut flags: Vec<&str> = picks.into_iter().chain(numbers).collect();
        let line = |f: &[&str]| format!("ma key {}\r\n", f.join(" "));
        let base = meta(line(&flags).as_bytes()).flags;
        let mut shuffled = flags.clone();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let mut again = meta(line(&shuffled).as_bytes()).flags;
        again.args.touch_before_recache = base.args.touch_before_recache;
        again.args.vivify_after_touch = base.args.vivify_after_touch;
        prop_assert_eq!(again, base);
        if !flags.is_empty() {
            let d = flags[dup.index(flags.len())];
            flags.push(d);
            prop_assert_eq!(err(format!("mg key {}\r\n", flags.join(" ")).as_bytes()), ERR_DUPLICATE);
            flags.pop();
            flags.insert(dup.index(flags.len() + 1), "E1");
            prop_assert_eq!(err(format!("mg key {}\r\n", flags.join(" ")).as_bytes()), ERR_INVALID_FLAG);
        }
    }
}
