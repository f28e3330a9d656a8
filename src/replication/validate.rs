//! What a twin's data frames must satisfy before anything in them reaches the store, checked
//! as strictly as client input: a broken or forged twin is refused here, not trusted.

use crate::record::MutationRef;
use crate::storage::MAX_KEY_LEN;

/// How far ahead of this node's wall clock a twin's version (or flush threshold) may be.
/// Twins' clocks agree to well within this under NTP; a version further ahead would drag
/// this node's clock with it and make its own writes lose to the forger's forever.
pub const MAX_AHEAD_MS: u64 = 60_000;

/// Why a twin's write is not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed for this node: the link is closed.
    Frame(&'static str),
    /// Its version is too far ahead of this node's clock: this write alone is dropped.
    Version,
}

/// What this node accepts from its twin.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The node's item size limit (-I).
    pub max_value: usize,
    /// This node's wall clock, unix ms.
    pub now_ms: u64,
}

impl Limits {
    /// Ok if the store may apply `m`.
    pub fn check(&self, m: &MutationRef<'_>) -> Result<(), Refusal> {
        if let Some(key) = m.key()
            && (key.is_empty() || key.len() > MAX_KEY_LEN)
        {
            return Err(Refusal::Frame("key length outside 1..=250"));
        }
        let mut now_ms = self.now_ms;
        let version = match *m {
            MutationRef::Set { value, version, .. } => {
                if value.len() > self.max_value {
                    return Err(Refusal::Frame("value larger than the item size limit"));
                }
                version
            }
            MutationRef::Delete { version, .. } | MutationRef::Mark { version, .. } => version,
            MutationRef::Flush {
                before_version,
                at_unix_secs,
            } => {
                // A delayed flush's threshold is its own time (`flush_all N`), not now.
                now_ms = now_ms.max(u64::from(at_unix_secs) * 1000);
                before_version
            }
        };
        // The high 44 bits of a version are unix ms (see storage::clock).
        if version >> 20 > now_ms.saturating_add(MAX_AHEAD_MS) {
            return Err(Refusal::Version);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;
    const LIMITS: Limits = Limits {
        max_value: 1024,
        now_ms: NOW,
    };

    fn set(key: &[u8], value: &[u8], ms: u64) -> MutationRef<'static> {
        let (key, value) = (key.to_vec().leak(), value.to_vec().leak());
        MutationRef::Set {
            key,
            value,
            flags: 0,
            exptime: 0,
            version: ms << 20 | 7,
        }
    }

    #[test]
    fn keys_and_values_are_held_to_client_limits() {
        assert_eq!(LIMITS.check(&set(b"k", &[0; 1024], NOW)), Ok(()));
        assert!(matches!(
            LIMITS.check(&set(b"k", &[0; 1025], NOW)),
            Err(Refusal::Frame(_))
        ));
        assert!(matches!(
            LIMITS.check(&set(b"", b"v", NOW)),
            Err(Refusal::Frame(_))
        ));
        assert_eq!(LIMITS.check(&set(&[b'k'; 250], b"v", NOW)), Ok(()));
        let long = MutationRef::Delete {
            key: &[b'k'; 251],
            version: 1,
        };
        assert!(matches!(LIMITS.check(&long), Err(Refusal::Frame(_))));
    }

    #[test]
    fn versions_far_ahead_are_refused_behind_are_not() {
        assert_eq!(LIMITS.check(&set(b"k", b"v", 0)), Ok(()));
        assert_eq!(LIMITS.check(&set(b"k", b"v", NOW + MAX_AHEAD_MS)), Ok(()));
        assert_eq!(
            LIMITS.check(&set(b"k", b"v", NOW + MAX_AHEAD_MS + 1)),
            Err(Refusal::Version)
        );
        let flush = |before_version| MutationRef::Flush {
            before_version,
            at_unix_secs: 0,
        };
        assert_eq!(LIMITS.check(&flush(u64::MAX - 5)), Err(Refusal::Version));
        assert_eq!(LIMITS.check(&flush(NOW << 20)), Ok(()));
        // `flush_all 3600` on the twin: threshold an hour ahead, at that time.
        let later = NOW + 3_600_000;
        let delayed = MutationRef::Flush {
            before_version: later << 20,
            at_unix_secs: (later / 1000) as u32,
        };
        assert_eq!(LIMITS.check(&delayed), Ok(()));
        let del = MutationRef::Delete {
            key: b"k",
            version: u64::MAX,
        };
        assert_eq!(LIMITS.check(&del), Err(Refusal::Version));
    }
}
