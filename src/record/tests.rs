//! Round trips of every record kind, and malformed records rejected.

use super::*;

fn samples() -> [Mutation; 4] {
    [
        Mutation::Set {
            key: b"k".to_vec(),
            value: b"v\r\n\0".to_vec(),
            flags: 9,
            exptime: 100,
            version: 1 << 40,
        },
        Mutation::Delete {
            key: b"key".to_vec(),
            version: 5,
        },
        Mutation::Flush {
            before_version: 11,
            at_unix_secs: 12,
        },
        Mutation::Mark {
            key: b"marked".to_vec(),
            version: 13,
            bits: 3,
        },
    ]
}

#[test]
fn records_round_trip() {
    let ms = samples();
    let mut buf = Vec::new();
    for (i, m) in ms.iter().enumerate() {
        put(&mut buf, i as u64 + 7, m.into());
    }
    let got: Vec<_> = records(&buf).map(|(s, m)| (s, m.to_owned())).collect();
    let want: Vec<_> = ms
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, m)| (i as u64 + 7, m))
        .collect();
    assert_eq!(got, want);
    let n = record_len(&buf);
    stamp(&mut buf[..n], 99);
    assert_eq!(decode_record(&buf[..n]).unwrap().0, 99);
    // A record cut anywhere is refused by its length word, before its body is read.
    for cut in 5..n {
        assert_eq!(
            decode_record(&buf[..cut]),
            Err("bad frame length"),
            "cut {cut}"
        );
    }
}

#[test]
fn split_values_encode_as_one() {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    put_set(&mut a, 0, b"k", (b"ab", b"cd"), 1, 2, 3);
    put_set(&mut b, 0, b"k", (b"abcd", b""), 1, 2, 3);
    assert_eq!(a, b);
}

#[test]
fn malformed_bodies_are_errors() {
    for m in samples() {
        let mut rec = Vec::new();
        put(&mut rec, 1, (&m).into());
        let (kind, body) = (rec[4], &rec[5..]);
        for cut in 0..body.len() {
            assert_eq!(
                decode(kind, &body[..cut]),
                Err(TRUNCATED),
                "{m:?} cut {cut}"
            );
        }
        let mut long = body.to_vec();
        long.push(0);
        assert_eq!(decode(kind, &long), Err("trailing bytes in frame"));
    }
    assert_eq!(decode(99, &[0; 8]), Err("unknown frame kind"));
    assert_eq!(decode_record(&[9, 0, 0, 0, SET]), Err("bad frame length"));
}
