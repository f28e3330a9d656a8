//! The store's mutation log: its successful local writes since the owner last took them,
//! encoded as `crate::record` records (sequence 0) in one reused buffer, so logging a write
//! costs one copy of its key and value and no allocation; the replication backlog takes the
//! records in bulk.

use crate::record::{self, Mutation, MutationRef};

/// Capacity the log may keep between batches.
const MAX_IDLE: usize = 4 << 20;

#[derive(Default)]
pub(crate) struct MutationLog {
    on: bool,
    buf: Vec<u8>,
}

impl MutationLog {
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Turns logging on or off; off drops what is logged.
    pub fn set_on(&mut self, on: bool) {
        self.on = on;
        if !on {
            self.buf = Vec::new();
        }
    }

    /// Stops logging for a while, keeping what is logged; returns the setting to `resume`.
    pub fn pause(&mut self) -> bool {
        std::mem::replace(&mut self.on, false)
    }

    pub fn resume(&mut self, was_on: bool) {
        self.on = was_on;
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        // Keep the buffer for the next batch unless a huge value inflated it.
        if self.buf.capacity() > MAX_IDLE {
            self.buf = Vec::new();
        }
    }

    /// The logged mutations, decoded; clears the log.
    pub fn drain(&mut self) -> Vec<Mutation> {
        let out = record::records(&self.buf)
            .map(|(_, m)| m.to_owned())
            .collect();
        self.clear();
        out
    }

    /// Logs `m` if logging is on.
    #[inline]
    pub fn put(&mut self, m: MutationRef<'_>) {
        if self.on {
            record::put(&mut self.buf, 0, m);
        }
    }
}
