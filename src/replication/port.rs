//! The narrow view the twin link has of its shard. The server implements [`TwinShard`] for
//! shards that replicate; the link never sees the server's types, so replication does not
//! depend on the server and each side can change without the other.

use super::{NodeRepl, ShardRepl};
use crate::config::ReplConfig;
use crate::record::MutationRef;
use crate::storage::hash_key;

/// One twin write decoded in place from the receive buffer, its key hashed once: the hash
/// both routes it to its owner and finds it in that owner's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incoming<'a> {
    pub m: MutationRef<'a>,
    /// `hash_key` of its key; 0 for a flush, which has none.
    pub hash: u64,
}

impl<'a> Incoming<'a> {
    pub fn new(m: MutationRef<'a>) -> Self {
        let hash = m.key().map_or(0, hash_key);
        Incoming { m, hash }
    }
}

/// A shard with a twin. Accessors return references, not options: a shard without a twin
/// has no implementation to hand to the link.
pub trait TwinShard {
    /// What one inbound stream holds while it applies the twin's writes.
    type Applier: ApplyRecords;

    /// This shard's id among the node's shards (the stream it sends is the twin's same id).
    fn id(&self) -> usize;
    fn shards(&self) -> usize;
    /// This shard's outbound stream: backlog, link state, counters.
    fn repl(&self) -> &ShardRepl;
    fn node(&self) -> &NodeRepl;
    /// Where the twin is and the secret both sides prove.
    fn twin(&self) -> &ReplConfig;
    fn shutting_down(&self) -> bool;
    /// The node's item size limit (-I): the largest value a twin may send.
    fn max_value(&self) -> usize;
    /// State for one inbound stream, released when dropped.
    fn applier(&self) -> Self::Applier;
    /// Encodes the next chunk of a full copy into `out` as data records, starting at
    /// `cursor` (0 first), stopping after `max_items` items or `max_bytes` bytes; returns
    /// the cursor to continue from (None when done) and how many records it wrote.
    fn scan(
        &self,
        cursor: u64,
        max_items: usize,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> (Option<u64>, usize);
}

/// Applies the twin's writes, each on the shard that owns its key on this node.
// Futures here stay on the shard's own thread (thread-per-core), so no `Send` bound is
// wanted on the returned future.
#[allow(async_fn_in_trait)]
pub trait ApplyRecords {
    /// Applies `run` in order and returns once every record is applied, here or on its
    /// owner; counts the ones applied here in `records_applied`.
    async fn apply(&mut self, run: &[Incoming<'_>]);
}
