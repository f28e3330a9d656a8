//! A write as a value: owned ([`Mutation`]) or borrowing its key and value from wherever it
//! was decoded ([`MutationRef`]).

/// A successful change, for replication. Evictions and expiries are not logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    Set {
        key: Vec<u8>,
        value: Vec<u8>,
        flags: u32,
        /// Absolute unix seconds, 0 = never.
        exptime: u32,
        version: u64,
    },
    Delete {
        key: Vec<u8>,
        version: u64,
    },
    Flush {
        before_version: u64,
        at_unix_secs: u32,
    },
    /// The meta state bits of the key's item at `version`.
    Mark {
        key: Vec<u8>,
        version: u64,
        bits: u8,
    },
}

/// A mutation whose key and value borrow from wherever it was decoded (a receive buffer, a
/// batch arena), so applying a twin's write copies its bytes only into the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MutationRef<'a> {
    Set {
        key: &'a [u8],
        value: &'a [u8],
        flags: u32,
        /// Absolute unix seconds, 0 = never.
        exptime: u32,
        version: u64,
    },
    Delete {
        key: &'a [u8],
        version: u64,
    },
    Flush {
        before_version: u64,
        at_unix_secs: u32,
    },
    Mark {
        key: &'a [u8],
        version: u64,
        bits: u8,
    },
}

impl<'a> From<&'a Mutation> for MutationRef<'a> {
    fn from(m: &'a Mutation) -> Self {
        match m {
            Mutation::Set {
                key,
                value,
                flags,
                exptime,
                version,
            } => MutationRef::Set {
                key,
                value,
                flags: *flags,
                exptime: *exptime,
                version: *version,
            },
            Mutation::Delete { key, version } => MutationRef::Delete {
                key,
                version: *version,
            },
            Mutation::Flush {
                before_version,
                at_unix_secs,
            } => MutationRef::Flush {
                before_version: *before_version,
                at_unix_secs: *at_unix_secs,
            },
            Mutation::Mark { key, version, bits } => MutationRef::Mark {
                key,
                version: *version,
                bits: *bits,
            },
        }
    }
}

impl MutationRef<'_> {
    pub fn to_owned(self) -> Mutation {
        match self {
            MutationRef::Set {
                key,
                value,
                flags,
                exptime,
                version,
            } => Mutation::Set {
                key: key.to_vec(),
                value: value.to_vec(),
                flags,
                exptime,
                version,
            },
            MutationRef::Delete { key, version } => Mutation::Delete {
                key: key.to_vec(),
                version,
            },
            MutationRef::Flush {
                before_version,
                at_unix_secs,
            } => Mutation::Flush {
                before_version,
                at_unix_secs,
            },
            MutationRef::Mark { key, version, bits } => Mutation::Mark {
                key: key.to_vec(),
                version,
                bits,
            },
        }
    }

    /// The key it changes; None for a flush, which concerns every key.
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            MutationRef::Set { key, .. }
            | MutationRef::Delete { key, .. }
            | MutationRef::Mark { key, .. } => Some(key),
            MutationRef::Flush { .. } => None,
        }
    }
}
