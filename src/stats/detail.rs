//! `stats detail`: per key prefix (the key up to memcached's -D delimiter) counts of gets,
//! hits, sets and deletes, kept by the shard that runs the op while collection is on, and
//! merged for `stats detail dump` in memcached's line format.

use std::collections::HashMap;
use std::io::Write;

/// What one op adds to its key's prefix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DetailEvent {
    Get { hit: bool },
    Set,
    Delete,
}

/// Counts for one prefix: get, hit, set, del.
type Counts = [u64; 4];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrefixStats {
    by_prefix: HashMap<Vec<u8>, Counts>,
}

impl PrefixStats {
    /// Counts `event` under `key`'s prefix; a key without the delimiter has no prefix and
    /// is not counted, as in memcached.
    pub fn record(&mut self, key: &[u8], delimiter: u8, event: DetailEvent) {
        let Some(end) = key.iter().position(|&b| b == delimiter) else {
            return;
        };
        let prefix = &key[..end];
        let counts = match self.by_prefix.get_mut(prefix) {
            Some(c) => c,
            None => self.by_prefix.entry(prefix.to_vec()).or_default(),
        };
        match event {
            DetailEvent::Get { hit } => {
                counts[0] += 1;
                counts[1] += u64::from(hit);
            }
            DetailEvent::Set => counts[2] += 1,
            DetailEvent::Delete => counts[3] += 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }

    pub fn clear(&mut self) {
        self.by_prefix.clear();
    }

    pub fn merge(&mut self, other: &PrefixStats) {
        for (prefix, c) in &other.by_prefix {
            let mine = self.by_prefix.entry(prefix.clone()).or_default();
            for (m, o) in mine.iter_mut().zip(c) {
                *m += o;
            }
        }
    }

    /// `stats detail dump`, prefixes in byte order.
    pub fn write_dump(&self, out: &mut Vec<u8>) {
        let mut rows: Vec<_> = self.by_prefix.iter().collect();
        rows.sort();
        for (prefix, [get, hit, set, del]) in rows {
            out.extend_from_slice(b"PREFIX ");
            out.extend_from_slice(prefix);
            let _ = write!(out, " get {get} hit {hit} set {set} del {del}\r\n");
        }
        out.extend_from_slice(b"END\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_prefix_and_merges() {
        let mut a = PrefixStats::default();
        a.record(b"foo:1", b':', DetailEvent::Set);
        a.record(b"foo:2", b':', DetailEvent::Get { hit: true });
        a.record(b"nodelim", b':', DetailEvent::Get { hit: false });
        let mut b = PrefixStats::default();
        b.record(b"foo:3", b':', DetailEvent::Get { hit: false });
        b.record(b"bar:3", b':', DetailEvent::Delete);
        a.merge(&b);
        let mut out = Vec::new();
        a.write_dump(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PREFIX bar get 0 hit 0 set 0 del 1\r\nPREFIX foo get 2 hit 1 set 1 del 0\r\nEND\r\n"
        );
    }
}
