//! The meta protocol's per-item state that most items never have (stale, win token handed
//! out, key set in base64), kept beside the arena by item version: a version names one
//! state of one item, so any later write leaves its old mark behind without touching it,
//! and touches (which keep the version, as memcached keeps the CAS) keep it.

use std::collections::HashMap;

/// The item was marked stale (`md I`, or `ms I` with an older CAS).
pub const STALE: u8 = 1;
/// A win token (`W`) was handed out for this state of the item.
pub const TOKEN_SENT: u8 = 2;
/// The key was set in base64 (`b`), so `k` returns it encoded.
pub const BINARY: u8 = 4;

#[derive(Default)]
pub(crate) struct Marks {
    pub map: HashMap<u64, (u8, Box<[u8]>)>,
    /// Above this many entries, entries whose item moved on are dropped.
    prune_at: usize,
}

impl Marks {
    #[inline]
    pub fn get(&self, version: u64) -> u8 {
        if self.map.is_empty() {
            return 0;
        }
        self.map.get(&version).map_or(0, |e| e.0)
    }

    /// Sets the bits of item `key` at `version`; 0 forgets it.
    pub fn set(&mut self, version: u64, key: &[u8], bits: u8) {
        if bits == 0 {
            self.map.remove(&version);
        } else {
            self.map.insert(version, (bits, key.into()));
        }
    }

    /// Whether it is time to drop the entries of items that changed since (see `prune`).
    pub fn wants_prune(&self) -> bool {
        self.map.len() > self.prune_at.max(1024)
    }

    /// Keeps the entries for which `live(key, version)` holds.
    pub fn prune(&mut self, mut live: impl FnMut(&[u8], u64) -> bool) {
        self.map.retain(|&v, e| live(&e.1, v));
        self.prune_at = self.map.len() * 2;
    }
}
