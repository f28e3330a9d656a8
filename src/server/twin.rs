//! The server's side of the twin link: a replicating shard as replication's [`TwinShard`],
//! and the twin's writes routed to the shards that own their keys on this node.

use super::lookahead::Lookahead;
use super::router::{Batch, Reply};
use super::runtime::bind_listener;
use super::shard::Shard;
use crate::config::ReplConfig;
use crate::replication::port::{ApplyRecords, Incoming, TwinShard};
use crate::replication::{NodeRepl, ReplCounters, ShardRepl, inbound, outbound};
use crate::storage::{Store, shard_of_hash};
use glommio::channels::local_channel::{self, LocalReceiver};
use std::rc::Rc;

/// With --twin, makes `shard` replicate: its store logs writes and keeps tombstones for the
/// backlog's window, and it both accepts the twin's stream and sends its own.
pub fn start(shard: &Rc<Shard>) -> Result<(), String> {
    let Some(twin) = Twin::of(shard) else {
        return Ok(());
    };
    {
        let mut store = shard.store.borrow_mut();
        store.set_node_id(twin.node.node_id);
        store.set_mutation_log(true);
        store.set_tombstone_ttl(twin.cfg.backlog_secs.min(u64::from(u32::MAX)) as u32);
    }
    let listen = twin.cfg.listen;
    if shard.id == 0 {
        warn_if_unreachable(&twin.cfg);
    }
    let listener = bind_listener(listen)
        .map_err(|e| format!("failed to listen for replication on {listen}: {e}"))?;
    let twin = Rc::new(twin);
    glommio::spawn_local(inbound::accept_loop(twin.clone(), listener)).detach();
    glommio::spawn_local(outbound::sender_loop(twin)).detach();
    Ok(())
}

/// Without a secret the replication port defaults to loopback (see `config`); say so once
/// when the twin is elsewhere, since it then cannot connect to this node.
fn warn_if_unreachable(cfg: &ReplConfig) {
    use std::net::ToSocketAddrs;
    let twin_remote = cfg
        .twin
        .to_socket_addrs()
        .is_ok_and(|mut a| a.any(|a| !a.ip().is_loopback()));
    if cfg.listen.ip().is_loopback() && twin_remote {
        tracing::warn!(
            "replication listens on {} only: the twin at {} cannot connect here without \
             --repl-secret-file or --repl-insecure-listen",
            cfg.listen,
            cfg.twin
        );
    }
}

/// A shard that replicates, with its replication state taken out of the options once.
pub struct Twin {
    shard: Rc<Shard>,
    repl: Rc<ShardRepl>,
    node: NodeRepl,
    cfg: ReplConfig,
}

impl Twin {
    /// None when the node has no twin.
    fn of(shard: &Rc<Shard>) -> Option<Twin> {
        Some(Twin {
            shard: shard.clone(),
            repl: shard.repl.clone()?,
            node: shard.shared.repl.clone()?,
            cfg: shard.cfg().repl.clone()?,
        })
    }
}

impl TwinShard for Twin {
    type Applier = Applier;

    fn id(&self) -> usize {
        self.shard.id
    }

    fn shards(&self) -> usize {
        self.shard.nshards
    }

    fn repl(&self) -> &ShardRepl {
        &self.repl
    }

    fn node(&self) -> &NodeRepl {
        &self.node
    }

    fn twin(&self) -> &ReplConfig {
        &self.cfg
    }

    fn shutting_down(&self) -> bool {
        self.shard.shared.shutting_down()
    }

    fn max_value(&self) -> usize {
        self.shard.cfg().max_item_size
    }

    fn applier(&self) -> Applier {
        Applier::new(self.shard.clone(), self.repl.clone())
    }

    fn scan(
        &self,
        cursor: u64,
        max_items: usize,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> (Option<u64>, usize) {
        self.shard
            .store
            .borrow()
            .scan(cursor, max_items, max_bytes, out)
    }
}

/// One inbound stream's way to the owners of its writes: a reply channel registered on the
/// shard, and one batch per shard, reused from read to read.
pub struct Applier {
    shard: Rc<Shard>,
    repl: Rc<ShardRepl>,
    token: u64,
    rx: LocalReceiver<Reply>,
    batches: Vec<Batch>,
}

impl Applier {
    fn new(shard: Rc<Shard>, repl: Rc<ShardRepl>) -> Self {
        let (tx, rx) = local_channel::new_unbounded();
        let token = shard.register_waiter(tx);
        let batches = (0..shard.nshards).map(|_| Batch::default()).collect();
        Applier {
            shard,
            repl,
            token,
            rx,
            batches,
        }
    }
}

impl Drop for Applier {
    fn drop(&mut self) {
        self.shard.unregister(self.token);
    }
}

impl ApplyRecords for Applier {
    async fn apply(&mut self, run: &[Incoming<'_>]) {
        let shard = &self.shard;
        shard.on_work();
        let applied = apply_run(
            &mut shard.store.borrow_mut(),
            shard.id,
            &mut self.batches,
            run,
        );
        let r = &self.repl;
        ReplCounters::add(&r.counters.records_applied, applied);
        // Owners count what they apply when they run their batch.
        shard
            .run_batches(self.token, &self.rx, &mut self.batches)
            .await;
    }
}

/// Applies a run of the twin's writes in order, on shard `me` whose store is `store`:
/// a keyed write here if `me` owns its key, else into its owner's batch (`batches` holds
/// one per shard); a flush here and into every other shard's batch. Returns how many it
/// applied here.
fn apply_run(store: &mut Store, me: usize, batches: &mut [Batch], run: &[Incoming<'_>]) -> u64 {
    let shards = batches.len();
    // A twin's writes hit random keys: load their index buckets and items ahead, so the
    // cache misses overlap instead of queuing.
    let keyed = run.iter().filter(|r| r.m.key().is_some()).map(|r| r.hash);
    let mut ahead = Lookahead::new(keyed, store, shards, me);
    let mut applied = 0;
    for r in run {
        if r.m.key().is_none() {
            // A flush goes to every shard.
            for (s, b) in batches.iter_mut().enumerate() {
                if s != me {
                    b.push_apply(r.m);
                }
            }
            store.apply_remote_hashed(r.m, r.hash);
            applied += 1;
            continue;
        }
        ahead.step(store);
        let owner = shard_of_hash(r.hash, shards);
        if owner == me {
            store.apply_remote_hashed(r.m, r.hash);
            applied += 1;
        } else {
            batches[owner].push_apply(r.m);
        }
    }
    applied
}

#[cfg(test)]
#[path = "twin_tests.rs"]
mod tests;
