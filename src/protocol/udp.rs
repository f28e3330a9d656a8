//! memcached's UDP framing: the 8-byte header on every datagram (request id, sequence
//! number, datagram count, reserved), and how a datagram's replies are cut into datagrams.
//! memcached frames each response object on its own (a multi-get's values, then `END` with
//! the last key's value), so the replies are first split into those units.

use std::ops::Range;

pub const HEADER: usize = 8;
/// A reply datagram's largest size, header included (memcached's UDP_MAX_PAYLOAD_SIZE).
pub const MAX_DATAGRAM: usize = 1400;
const DATA: usize = MAX_DATAGRAM - HEADER;

/// The request id and payload of a request datagram; `None` for what memcached drops: a
/// datagram with no payload, or one that says it is part of a multi-datagram request.
pub fn request(datagram: &[u8]) -> Option<(u16, &[u8])> {
    if datagram.len() <= HEADER || datagram[4..6] != [0, 1] {
        return None;
    }
    Some((
        u16::from_be_bytes([datagram[0], datagram[1]]),
        &datagram[HEADER..],
    ))
}

/// Calls `send` with each datagram of one response unit, header first, in sequence order.
pub fn frames(id: u16, unit: &[u8], mut send: impl FnMut(&[u8])) {
    let total = unit.len().div_ceil(DATA).min(u16::MAX as usize);
    let mut dgram = Vec::with_capacity(MAX_DATAGRAM.min(unit.len() + HEADER));
    // An empty unit (a get's missed key) still goes out: a header saying 0 datagrams.
    if unit.is_empty() {
        let mut head = id.to_be_bytes().to_vec();
        head.extend_from_slice(&[0; 6]);
        return send(&head);
    }
    for (seq, chunk) in unit.chunks(DATA).take(total).enumerate() {
        dgram.clear();
        dgram.extend_from_slice(&id.to_be_bytes());
        dgram.extend_from_slice(&(seq as u16).to_be_bytes());
        dgram.extend_from_slice(&(total as u16).to_be_bytes());
        dgram.extend_from_slice(&[0, 0]);
        dgram.extend_from_slice(chunk);
        send(&dgram);
    }
}

/// The response units of `out`, the replies to the requests in `payload`, in order. A
/// binary response is one unit; in text, a `VALUE` or `VA` block is one unit, a `STAT`/
/// `ITEM` listing with its `END` is one, and any other line is one. A get's values are
/// cut as memcached cuts them (`get_units`).
pub fn units(payload: &[u8], out: &[u8]) -> Vec<Range<usize>> {
    let mut gets = get_keys(payload).into_iter().peekable();
    let mut units = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let rest = &out[at..];
        let get_answer = rest.starts_with(b"VALUE ") || rest.starts_with(b"END\r\n");
        if let Some(keys) = gets.next_if(|_| get_answer) {
            at = get_units(out, at, &keys, &mut units);
            continue;
        }
        let len = unit_len(rest).map_or(rest.len(), |n| n.min(rest.len()));
        units.push(at..at + len);
        at += len;
    }
    units
}

/// One get's units from `at` on; returns where its answer ends. As memcached 1.6.18 sends
/// them: each hit is a unit; misses before the first hit make one empty unit, later misses
/// none; `END` joins the last key's value, or stands alone after a miss.
fn get_units(out: &[u8], mut at: usize, keys: &[&[u8]], units: &mut Vec<Range<usize>>) -> usize {
    for (i, key) in keys.iter().enumerate() {
        let start = at;
        let last = i + 1 == keys.len();
        let rest = &out[at..];
        let hit = value_key_of(rest) == Some(key);
        if hit {
            at += unit_len(rest).map_or(rest.len(), |n| n.min(rest.len()));
        }
        if last && out[at..].starts_with(b"END\r\n") {
            at += 5;
        }
        if hit || last || i == 0 {
            units.push(start..at);
        }
    }
    at
}

/// The length of the unit at the start of `out`, or `None` when it is cut short.
fn unit_len(out: &[u8]) -> Option<usize> {
    if out[0] == 0x81 {
        let body = u32::from_be_bytes(out.get(8..12)?.try_into().ok()?) as usize;
        return Some(24 + body);
    }
    let line = line_len(out)?;
    let words: Vec<&[u8]> = out[..line - 2].split(|&b| b == b' ').collect();
    let data = match words[0] {
        b"VALUE" => words.get(3),
        b"VA" => words.get(1),
        b"STAT" | b"ITEM" => return listing_len(out),
        _ => None,
    };
    match data.and_then(|w| std::str::from_utf8(w).ok()?.parse::<usize>().ok()) {
        Some(n) => Some(line + n + 2),
        None => Some(line),
    }
}

fn line_len(out: &[u8]) -> Option<usize> {
    out.windows(2).position(|w| w == b"\r\n").map(|p| p + 2)
}

/// Lines up to and including `END`.
fn listing_len(out: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let n = line_len(&out[at..])?;
        at += n;
        if &out[at - n..at] == b"END\r\n" {
            return Some(at);
        }
    }
}

fn value_key_of(unit: &[u8]) -> Option<&[u8]> {
    let key = unit.strip_prefix(b"VALUE ")?;
    key.split(|&b| b == b' ').next()
}

/// The keys of each get-family request line in `payload`, in order (storage commands'
/// data blocks are skipped, whatever they hold).
fn get_keys(payload: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut gets = Vec::new();
    let mut rest = payload;
    while let Some(n) = line_len(rest) {
        let words: Vec<&[u8]> = rest[..n - 2]
            .split(|&b| b == b' ')
            .filter(|w| !w.is_empty())
            .collect();
        rest = &rest[n..];
        let keys_from = match words.first().copied() {
            Some(b"get" | b"gets") => 1,
            Some(b"gat" | b"gats") => 2,
            Some(b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas") => {
                let data = words
                    .get(4)
                    .and_then(|w| std::str::from_utf8(w).ok()?.parse().ok());
                rest = &rest[(data.unwrap_or(0) + 2).min(rest.len())..];
                continue;
            }
            _ => continue,
        };
        if words.len() > keys_from {
            gets.push(words[keys_from..].to_vec());
        }
    }
    gets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut<'a>(payload: &[u8], out: &'a [u8]) -> Vec<&'a [u8]> {
        units(payload, out).into_iter().map(|r| &out[r]).collect()
    }

    #[test]
    fn a_request_needs_a_payload_and_one_datagram() {
        assert_eq!(
            request(b"\x00\x07\x00\x00\x00\x01\x00\x00get a\r\n"),
            Some((7, &b"get a\r\n"[..]))
        );
        assert_eq!(request(b"\x00\x07\x00\x00\x00\x01\x00\x00"), None);
        assert_eq!(request(b"\x00\x07\x00\x00\x00\x02\x00\x00get a\r\n"), None);
    }

    #[test]
    fn a_unit_is_cut_into_datagrams_of_1400_bytes() {
        let unit = vec![b'x'; 3000];
        let mut got = Vec::new();
        frames(0x1234, &unit, |d| got.push(d.to_vec()));
        let lens: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(lens, [1400, 1400, 3000 - 2 * 1392 + 8]);
        assert_eq!(&got[1][..8], b"\x12\x34\x00\x01\x00\x03\x00\x00");
        got.clear();
        frames(9, b"", |d| got.push(d.to_vec()));
        assert_eq!(got, [b"\x00\x09\x00\x00\x00\x00\x00\x00"]);
    }

    #[test]
    fn multi_get_values_are_units_and_end_joins_the_last_key() {
        let out = b"VALUE a 0 1\r\nA\r\nVALUE b 5 2\r\nBB\r\nEND\r\n";
        assert_eq!(cut(b"get a b\r\n", out), [&out[..16], &out[16..]]);
        assert_eq!(
            cut(b"get a b nope\r\n", out),
            [&out[..16], &out[16..33], &out[33..]]
        );
        let two = b"VALUE a 0 1\r\nA\r\nEND\r\nEND\r\n";
        assert_eq!(cut(b"get a\r\nget x\r\n", two), [&two[..21], &two[21..]]);
    }

    #[test]
    fn listings_lines_and_binary_packets_are_units() {
        let out = b"STAT a 1\r\nSTAT b 2\r\nEND\r\nSTORED\r\nVA 2 f\r\nhi\r\nHD\r\n";
        assert_eq!(
            cut(b"", out),
            [&out[..25], &out[25..33], &out[33..45], &out[45..]]
        );
        let mut bin = vec![0x81, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        bin.resize(26, 7);
        let two = [bin.clone(), bin].concat();
        assert_eq!(cut(b"", &two), [&two[..26], &two[26..]]);
    }
}
