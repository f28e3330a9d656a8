//! Number parsing with the exact leniency of memcached's `safe_strto*` helpers (C `strtol`
//! rules: leading white space and a sign allowed, digits, then end of token or white space).

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Splits a token into (negative, digits) the way strtol sees it; None if no digits or if
/// the digits are followed by something other than white space.
fn split_number(tok: &[u8]) -> Option<(bool, &[u8])> {
    let mut i = 0;
    while i < tok.len() && is_c_space(tok[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < tok.len() && (tok[i] == b'+' || tok[i] == b'-') {
        negative = tok[i] == b'-';
        i += 1;
    }
    let start = i;
    while i < tok.len() && tok[i].is_ascii_digit() {
        i += 1;
    }
    if i == start || (i < tok.len() && !is_c_space(tok[i])) {
        return None;
    }
    Some((negative, &tok[start..i]))
}

fn digits_value(digits: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

/// `safe_strtoull`: unsigned 64-bit. A minus sign is accepted by strtoull (it negates), but
/// memcached rejects it when the result looks negative as a signed number.
pub fn parse_u64(tok: &[u8]) -> Option<u64> {
    let (negative, digits) = split_number(tok)?;
    let v = digits_value(digits)?;
    let v = if negative { v.wrapping_neg() } else { v };
    if negative && (v as i64) < 0 {
        return None;
    }
    Some(v)
}

/// `safe_strtoul` as used for client flags: parsed as a 64-bit unsigned long, then stored
/// into 32 bits (memcached 1.6 truncates 4294967296 to 0; we do the same).
pub fn parse_flags(tok: &[u8]) -> Option<u32> {
    parse_u64(tok).map(|v| v as u32)
}

/// `safe_strtol`: a signed 32-bit value (exptime, value length, delays).
pub fn parse_i32(tok: &[u8]) -> Option<i32> {
    let (negative, digits) = split_number(tok)?;
    let v = digits_value(digits)?;
    let v = i64::try_from(v).ok()?;
    let v = if negative { -v } else { v };
    i32::try_from(v).ok()
}

/// Reads a number a store wrote for incr/decr: leading/trailing white space allowed.
pub fn parse_stored_u64(value: &[u8]) -> Option<u64> {
    parse_u64(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_leniency() {
        assert_eq!(parse_i32(b"01"), Some(1));
        assert_eq!(parse_i32(b"+5"), Some(5));
        assert_eq!(parse_i32(b"-5"), Some(-5));
        assert_eq!(parse_i32(b"1\ra"), Some(1));
        assert_eq!(parse_i32(b"1a"), None);
        assert_eq!(parse_i32(b""), None);
        assert_eq!(parse_i32(b"-"), None);
        assert_eq!(parse_i32(b"2147483648"), None);
    }

    #[test]
    fn unsigned_rules() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b" 12"), Some(12));
        assert_eq!(parse_u64(b"12 "), Some(12));
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_flags(b"4294967296"), Some(0));
        assert_eq!(parse_flags(b"4294967295"), Some(u32::MAX));
    }
}
