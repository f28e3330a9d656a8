//! Fuzzes the twin link's frame decoder (src/replication/wire.rs) and what the receiving
//! end makes of one read (inbound::decode_run with validate.rs's limits): any bytes decode
//! or fail without a panic, a frame has one spelling, and no write that reaches the store
//! breaks a client limit (key 1..=250 bytes, value within -I, version at most 60 s ahead).
#![no_main]

use corecached::record::MutationRef;
use corecached::replication::inbound::decode_run;
use corecached::replication::validate::{Limits, MAX_AHEAD_MS};
use corecached::replication::wire::{
    DecodeError, Frame, FrameRef, MAX_FRAME, decode, decode_ref, encode,
};
use corecached::storage::hash_key;
use libfuzzer_sys::fuzz_target;

/// A small -I, so that values over it are within the fuzzer's reach.
const LIMITS: Limits = Limits {
    max_value: 100,
    now_ms: 1_800_000_000_000,
};

fuzz_target!(|data: &[u8]| {
    decode_any(data);
    read_of(data);
});

fn decode_any(data: &[u8]) {
    match decode(data) {
        Ok((f, used)) => whole_frame(data, f, used),
        Err(DecodeError::Incomplete) => {
            if data.len() >= 5 {
                let len = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
                assert!(
                    data.len() < 4 + len,
                    "Incomplete with the whole frame there"
                );
            }
        }
        Err(e @ DecodeError::Invalid(_)) => {
            // Decided on the frame alone: more bytes after it change nothing.
            let mut more = data.to_vec();
            more.extend_from_slice(&[0xa5; 16]);
            assert_eq!(decode(&more).map(|(_, n)| n), Err(e));
        }
    }
}

fn whole_frame(data: &[u8], f: Frame, used: usize) {
    assert!(used >= 5 && used <= data.len() && used <= MAX_FRAME + 4);
    let (r, used_ref) = decode_ref(data).expect("decode and decode_ref agree");
    assert_eq!(used_ref, used);
    match r {
        FrameRef::Data { seq, m } => assert_eq!(
            Frame::Data {
                seq,
                m: m.to_owned()
            },
            f
        ),
        FrameRef::Control(c) => assert_eq!(c, f),
    }
    let mut again = Vec::new();
    encode(&mut again, &f);
    // One spelling per frame; a refusal's reason is made valid UTF-8 on the way in.
    if !matches!(f, Frame::Refused { .. }) {
        assert_eq!(again, &data[..used]);
    }
    assert_eq!(decode(&again), Ok((f.clone(), again.len())));
    assert_eq!(decode(&data[..used]), Ok((f, used)));
    for cut in [0, 4, 5, used - 1] {
        if cut < used {
            assert_eq!(
                decode(&data[..cut]),
                Err(DecodeError::Incomplete),
                "cut {cut}"
            );
        }
    }
}

/// One read of a twin's stream: only whole frames are taken, and every write handed to
/// the store is within the client limits.
fn read_of(data: &[u8]) {
    let mut run = Vec::new();
    let Ok(read) = decode_run(data, &mut run, &LIMITS) else {
        return;
    };
    assert!(read.used <= data.len());
    for inc in &run {
        check_write(&inc.m);
        assert_eq!(inc.hash, inc.m.key().map_or(0, hash_key));
    }
    // The frames it took, alone, read the same.
    let mut again = Vec::new();
    let alone = decode_run(&data[..read.used], &mut again, &LIMITS).expect("same frames");
    assert_eq!((alone, &again), (read, &run));
}

fn check_write(m: &MutationRef<'_>) {
    if let Some(key) = m.key() {
        assert!(
            (1..=250).contains(&key.len()),
            "a key of {} bytes",
            key.len()
        );
    }
    let (version, now_ms) = match *m {
        MutationRef::Set { value, version, .. } => {
            assert!(
                value.len() <= LIMITS.max_value,
                "a value of {}",
                value.len()
            );
            (version, LIMITS.now_ms)
        }
        MutationRef::Delete { version, .. } | MutationRef::Mark { version, .. } => {
            (version, LIMITS.now_ms)
        }
        MutationRef::Flush {
            before_version,
            at_unix_secs,
        } => (
            before_version,
            LIMITS.now_ms.max(u64::from(at_unix_secs) * 1000),
        ),
    };
    assert!(
        version >> 20 <= now_ms + MAX_AHEAD_MS,
        "a version from the future"
    );
}
