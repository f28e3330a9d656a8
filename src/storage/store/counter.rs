//! incr/decr's number handling: memcached's parse of an item value as a counter, and the
//! digits written back.

/// memcached's safe_strtoull on an item value: optional leading whitespace and sign, at least
/// one digit, then the end or whitespace; no overflow; a '-' only allowed for zero-ish values
/// that do not look negative.
pub(crate) fn parse_counter(v: &[u8]) -> Option<u64> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut i = 0;
    while i < v.len() && is_space(v[i]) {
        i += 1;
    }
    let neg = match v.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut n: u64 = 0;
    while i < v.len() && v[i].is_ascii_digit() {
        n = n.checked_mul(10)?.checked_add((v[i] - b'0') as u64)?;
        i += 1;
    }
    if i == start || (i < v.len() && !is_space(v[i])) {
        return None;
    }
    if neg {
        n = n.wrapping_neg();
        if (n as i64) < 0 {
            return None;
        }
    }
    Some(n)
}

/// Writes `n` in decimal to the front of `out`; returns how many digits.
pub(super) fn fmt_u64(mut n: u64, out: &mut [u8; 20]) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = 20;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = 20 - i;
    out[..len].copy_from_slice(&tmp[i..]);
    len
}
