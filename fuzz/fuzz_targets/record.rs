//! Fuzzes the write-record format (src/record/), which the mutation log, the replication
//! backlog and every twin data frame share: any bytes decode or fail without a panic, a
//! record that decodes is exactly what encoding its mutation writes (the format has one
//! spelling per record), and mutations built from the input round-trip.
#![no_main]

use corecached::record::{
    self, HEADER, Mutation, MutationRef, SEQ_AT, decode, decode_record, put, put_set, record_len,
    records, stamp,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    decode_any(data);
    round_trip(data);
});

fn decode_any(data: &[u8]) {
    if let Ok((seq, m)) = decode_record(data) {
        let mut again = Vec::new();
        put(&mut again, seq, m);
        assert_eq!(again, data, "a decoded record re-encodes to other bytes");
    }
    if let Some((&kind, body)) = data.split_first()
        && let Ok((seq, m)) = decode(kind, body)
    {
        assert!(matches!(
            kind,
            record::SET | record::DELETE | record::FLUSH | record::MARK
        ));
        let mut again = Vec::new();
        put(&mut again, seq, m);
        assert_eq!(&again[4..], data);
    }
}

/// Reads little-endian numbers and slices off the front of the input, zeros once it runs out.
struct Take<'a>(&'a [u8]);

impl<'a> Take<'a> {
    fn u64(&mut self) -> u64 {
        let n = self.0.len().min(8);
        let mut b = [0; 8];
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        u64::from_le_bytes(b)
    }

    fn bytes(&mut self) -> &'a [u8] {
        let n = (self.u64() as usize % 600).min(self.0.len());
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        h
    }

    fn mutation(&mut self) -> MutationRef<'a> {
        let (pick, version) = (self.u64(), self.u64());
        match pick % 4 {
            0 => MutationRef::Set {
                key: self.bytes(),
                value: self.bytes(),
                flags: (pick >> 8) as u32,
                exptime: (pick >> 40) as u32,
                version,
            },
            1 => MutationRef::Delete {
                key: self.bytes(),
                version,
            },
            2 => MutationRef::Flush {
                before_version: version,
                at_unix_secs: (pick >> 8) as u32,
            },
            _ => MutationRef::Mark {
                key: self.bytes(),
                version,
                bits: (pick >> 8) as u8,
            },
        }
    }
}

/// A log of mutations built from the input: each record decodes to what was written, the
/// log walks back in order, and the sequence stamp lands where decode reads it.
fn round_trip(data: &[u8]) {
    let mut t = Take(data);
    let ms: Vec<MutationRef<'_>> = (0..3).map(|_| t.mutation()).collect();
    let mut log = Vec::new();
    let mut starts = Vec::new();
    for (i, &m) in ms.iter().enumerate() {
        starts.push(log.len());
        put(&mut log, 0, m);
        let rec = &log[*starts.last().unwrap()..];
        assert_eq!(record_len(rec), rec.len());
        assert!(rec.len() >= HEADER);
        // The split form (an append's old value and its new bytes) writes the same record.
        if let MutationRef::Set {
            key,
            value,
            flags,
            exptime,
            version,
        } = m
        {
            let cut = (version as usize) % (value.len() + 1);
            let mut split = Vec::new();
            put_set(
                &mut split,
                0,
                key,
                value.split_at(cut),
                flags,
                exptime,
                version,
            );
            assert_eq!(split, rec);
        }
        stamp(&mut log[starts[i]..], i as u64 + 1);
        assert_eq!(
            log[starts[i] + SEQ_AT..starts[i] + SEQ_AT + 8],
            (i as u64 + 1).to_le_bytes()
        );
    }
    let back: Vec<(u64, MutationRef<'_>)> = records(&log).collect();
    let want: Vec<(u64, MutationRef<'_>)> = ms
        .iter()
        .enumerate()
        .map(|(i, &m)| (i as u64 + 1, m))
        .collect();
    assert_eq!(back, want);
    let owned: Vec<Mutation> = ms.iter().map(|&m| MutationRef::to_owned(m)).collect();
    for (m, o) in ms.iter().zip(&owned) {
        assert_eq!(MutationRef::from(o), *m);
        assert_eq!(m.key(), MutationRef::from(o).key());
    }
    // A record cut short, or with a byte more, never decodes.
    let first = &log[..starts.get(1).copied().unwrap_or(log.len())];
    assert!(decode_record(&first[..first.len() - 1]).is_err());
    let mut longer = first.to_vec();
    longer.push(0);
    assert!(decode_record(&longer).is_err());
}
