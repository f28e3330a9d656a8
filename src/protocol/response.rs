//! Response encoding for the text protocol: writes straight into the caller's output
//! buffer so a batch of replies costs no allocation beyond that buffer's growth.

/// `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n`
pub fn write_value(out: &mut Vec<u8>, key: &[u8], flags: u32, data: &[u8], cas: Option<u64>) {
    let mut num = itoa::Buffer::new();
    out.reserve(key.len() + data.len() + 48);
    out.extend_from_slice(b"VALUE ");
    out.extend_from_slice(key);
    out.push(b' ');
    out.extend_from_slice(num.format(flags).as_bytes());
    out.push(b' ');
    out.extend_from_slice(num.format(data.len()).as_bytes());
    if let Some(cas) = cas {
        out.push(b' ');
        out.extend_from_slice(num.format(cas).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// A whole status line such as `STORED`.
pub fn write_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The reply to incr/decr: the new value alone on a line.
pub fn write_number(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `STAT <name> <value>\r\n`
pub fn write_stat(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    use std::io::Write;
    let _ = write!(out, "STAT {name} {value}\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_lines() {
        let mut out = Vec::new();
        write_value(&mut out, b"k", 5, b"a\r\nb", None);
        write_value(&mut out, b"k", 0, b"", Some(7));
        write_number(&mut out, u64::MAX);
        write_stat(&mut out, "pid", 42);
        assert_eq!(
            out,
            b"VALUE k 5 4\r\na\r\nb\r\nVALUE k 0 0 7\r\n\r\n18446744073709551615\r\nSTAT pid 42\r\n"
        );
    }
}
