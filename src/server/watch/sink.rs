//! One shard's side of `watch`: turns what its ops did into events (a lookup's finding, a
//! write's result, an eviction, a delete), formats them here on the emitting shard, and
//! stages the lines until the end of the batch, when they go to the watchers' queues in one
//! pass. Nothing here runs unless some watcher asked for the kind in question.

use super::Watchers;
use crate::protocol::op::{MetaCmd, MetaError, MetaOutcome, MetaStatus, Op, Outcome, StoreKind};
use crate::protocol::op::{Removed, Stored};
use crate::protocol::text::watch::{
    self as fmt, DELETIONS, EVICTIONS, Event, FETCHERS, Found, MUTATIONS, Stamp, StoreCmd,
    StoreStatus,
};
use crate::storage::{Evicted, Peek, Store};
use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;

/// A shard's staged lines and what it needs to report its ops.
pub struct Sink {
    lines: RefCell<Vec<u8>>,
    /// Each staged line's kind, gid and end offset in `lines`.
    entries: RefCell<Vec<(u32, u64, usize)>>,
    evicted: RefCell<Vec<Evicted>>,
    /// The store is keeping its evictions for us.
    evictions: Cell<bool>,
    /// The `stats conns` id of the connection whose ops are running (memcached's cfd).
    pub serving: Cell<u64>,
    /// worker_logbuf_size: staged bytes that make the sink deliver before the batch ends.
    flush_at: usize,
}

/// What an op's key held before it ran, and what a write would make of it.
#[derive(Clone, Copy)]
pub struct Before {
    peek: Peek,
    /// The new item's class id and TTL (for a write).
    clsid: u32,
    ttl: u32,
}

/// What an op's outcome says, kept past the outcome (which borrows the store).
#[derive(Clone, Copy)]
pub enum Done {
    Store(StoreStatus),
    Deleted,
    Other,
}

impl Sink {
    pub fn new(flush_at: usize) -> Self {
        Sink {
            lines: RefCell::new(Vec::new()),
            entries: RefCell::new(Vec::new()),
            evicted: RefCell::new(Vec::new()),
            evictions: Cell::new(false),
            serving: Cell::new(0),
            flush_at: flush_at.max(1),
        }
    }

    /// Formats and stages one event.
    pub fn emit(&self, w: &Watchers, e: &Event<'_>) {
        let gid = w.next_gid();
        let mut lines = self.lines.borrow_mut();
        fmt::render(&mut lines, now(), gid, e);
        self.entries.borrow_mut().push((e.kind(), gid, lines.len()));
        w.written.fetch_add(1, Ordering::Relaxed);
        let full = lines.len() >= self.flush_at;
        drop(lines);
        if full {
            self.flush(w);
        }
    }

    /// Offers the staged lines to the watchers.
    pub fn flush(&self, w: &Watchers) {
        let mut entries = self.entries.borrow_mut();
        if entries.is_empty() {
            return;
        }
        let mut lines = self.lines.borrow_mut();
        w.deliver(&lines, &entries);
        entries.clear();
        lines.clear();
        if lines.capacity() > self.flush_at * 2 {
            *lines = Vec::new();
        }
    }

    /// Before a batch: the store keeps its evictions exactly while someone watches them
    /// (borrowed only when that changes).
    pub fn sync_store(&self, kinds: u32, store: &RefCell<Store>) {
        let on = kinds & EVICTIONS != 0;
        if on != self.evictions.get() {
            self.evictions.set(on);
            store.borrow_mut().watch_evictions(on);
        }
    }

    /// Looks at `op`'s key before it runs; a fetch is reported here, as memcached reports
    /// the lookup every command starts with. None for an op without a key.
    pub fn before(&self, w: &Watchers, kinds: u32, store: &Store, op: Op<'_>) -> Option<Before> {
        let key = op.key()?;
        if kinds & (FETCHERS | MUTATIONS | DELETIONS) == 0 {
            return None;
        }
        let (clsid, ttl) = match op {
            Op::Store {
                key,
                flags,
                exptime,
                value,
                ..
            } => (
                store.class_id_for(key.len(), value.len(), flags),
                store.ttl_left(i64::from(exptime)),
            ),
            Op::Meta {
                cmd: MetaCmd::Set,
                args,
                value,
                ..
            } => (
                store.class_id_for(key.len(), value.len(), args.flags),
                store.ttl_left(i64::from(args.touch.unwrap_or(0))),
            ),
            _ => (0, 0),
        };
        let b = Before {
            peek: store.peek(key),
            clsid,
            ttl,
        };
        // A refused set reports its lookup after the refusal, as memcached does.
        if kinds & FETCHERS != 0 && !matches!(op, Op::TooLarge { .. }) {
            self.emit(w, &fetched(key, b.peek, self.serving.get()));
        }
        Some(b)
    }

    /// After `op` ran: the evictions it caused, then its write or delete.
    pub fn after(&self, w: &Watchers, store: &mut Store, op: Op<'_>, b: Before, done: Done) {
        if self.evictions.get() {
            self.emit_evictions(w, store);
        }
        let kinds = w.kinds();
        let cfd = self.serving.get();
        match (op, done) {
            (Op::Delete { key, .. }, Done::Deleted)
            | (
                Op::Meta {
                    cmd: MetaCmd::Delete,
                    key,
                    ..
                },
                Done::Store(StoreStatus::Stored),
            ) if kinds & DELETIONS != 0 => {
                let (clsid, size) = live(b.peek);
                let meta = matches!(op, Op::Meta { .. });
                self.emit(
                    w,
                    &Event::Deleted {
                        key,
                        meta,
                        clsid,
                        size,
                    },
                );
            }
            (Op::TooLarge { kind, key }, _) => {
                if kinds & MUTATIONS != 0 {
                    self.emit(w, &refused(key, StoreStatus::TooLarge, cmd_of(kind), cfd));
                }
                if kinds & FETCHERS != 0 && kind == StoreKind::Set {
                    self.emit(w, &fetched(key, b.peek, cfd));
                }
            }
            (_, Done::Store(status)) if kinds & MUTATIONS != 0 => {
                if let Some(e) = stored(op, b, status, cfd) {
                    self.emit(w, &e);
                }
            }
            _ => {}
        }
    }

    /// After an op without a key (a new memory limit can evict too).
    pub fn after_keyless(&self, w: &Watchers, store: &mut Store) {
        if self.evictions.get() {
            self.emit_evictions(w, store);
        }
    }

    fn emit_evictions(&self, w: &Watchers, store: &mut Store) {
        let mut evicted = self.evicted.borrow_mut();
        store.take_evicted(&mut evicted);
        for e in evicted.drain(..) {
            let ev = Event::Eviction {
                key: &e.key,
                fetched: e.fetched,
                ttl: e.ttl,
                la: e.idle,
                clsid: e.class,
                size: e.size,
            };
            self.emit(w, &ev);
        }
    }
}

/// The part of an outcome the sink reports.
pub fn summarize(o: &Outcome<'_>) -> Done {
    match *o {
        Outcome::Stored { result, .. } => Done::Store(match result {
            Stored::Stored => StoreStatus::Stored,
            Stored::NotStored => StoreStatus::NotStored,
            Stored::Exists => StoreStatus::Exists,
            Stored::NotFound => StoreStatus::NotFound,
            Stored::TooLarge => StoreStatus::TooLarge,
            Stored::OutOfMemory => StoreStatus::NoMemory,
        }),
        Outcome::Deleted(Removed::Deleted) => Done::Deleted,
        Outcome::Meta(MetaOutcome::Status { status, .. }) => Done::Store(match status {
            MetaStatus::Stored => StoreStatus::Stored,
            MetaStatus::NotStored => StoreStatus::NotStored,
            MetaStatus::Exists => StoreStatus::Exists,
            MetaStatus::NotFound => StoreStatus::NotFound,
        }),
        Outcome::Meta(MetaOutcome::Error(MetaError::TooLarge)) => {
            Done::Store(StoreStatus::TooLarge)
        }
        Outcome::Meta(MetaOutcome::Error(MetaError::OutOfMemory)) => {
            Done::Store(StoreStatus::NoMemory)
        }
        _ => Done::Other,
    }
}

/// The item_store line of a write; md's "stored" is a delete.
fn stored<'a>(op: Op<'a>, b: Before, status: StoreStatus, cfd: u64) -> Option<Event<'a>> {
    let (key, cmd, value_len) = match op {
        Op::Store {
            kind, key, value, ..
        } => (key, cmd_of(kind), value.len()),
        Op::Meta {
            cmd: MetaCmd::Set,
            key,
            args,
            value,
        } => {
            let cmd = match (args.mode, args.cas) {
                (_, Some(_)) => StoreCmd::Cas,
                (b'E', _) => StoreCmd::Add,
                (b'A', _) => StoreCmd::Append,
                (b'P', _) => StoreCmd::Prepend,
                (b'R', _) => StoreCmd::Replace,
                _ => StoreCmd::Set,
            };
            (key, cmd, value.len())
        }
        _ => return None,
    };
    if matches!(status, StoreStatus::TooLarge | StoreStatus::NoMemory) {
        return Some(refused(key, status, cmd, cfd));
    }
    // An append's new item holds the old value too.
    let size = match (cmd, status) {
        (StoreCmd::Append | StoreCmd::Prepend, StoreStatus::Stored) => value_len + live(b.peek).1,
        _ => value_len,
    };
    Some(Event::ItemStore {
        key,
        status,
        cmd,
        ttl: b.ttl,
        clsid: b.clsid,
        cfd,
        size,
    })
}

/// A write refused before any item was made: no class, TTL or size. (memcached's line
/// here passes its arguments one place off, printing the fd as the class and 0 as the fd.)
fn refused(key: &[u8], status: StoreStatus, cmd: StoreCmd, cfd: u64) -> Event<'_> {
    Event::ItemStore {
        key,
        status,
        cmd,
        ttl: 0,
        clsid: 0,
        cfd,
        size: 0,
    }
}

fn fetched(key: &[u8], peek: Peek, cfd: u64) -> Event<'_> {
    let found = match peek {
        Peek::Missing => Found::NotFound,
        Peek::Live { .. } => Found::Found,
        Peek::Flushed => Found::Flushed,
        Peek::Expired => Found::Expired,
    };
    let (clsid, size) = live(peek);
    Event::ItemGet {
        key,
        found,
        clsid,
        cfd,
        size,
    }
}

/// Class id and value length of a live item; 0s otherwise.
fn live(p: Peek) -> (u32, usize) {
    match p {
        Peek::Live { class, size } => (class, size),
        _ => (0, 0),
    }
}

fn cmd_of(kind: StoreKind) -> StoreCmd {
    match kind {
        StoreKind::Set => StoreCmd::Set,
        StoreKind::Add => StoreCmd::Add,
        StoreKind::Replace => StoreCmd::Replace,
        StoreKind::Append | StoreKind::AppendCas(_) => StoreCmd::Append,
        StoreKind::Prepend | StoreKind::PrependCas(_) => StoreCmd::Prepend,
        StoreKind::Cas(_) => StoreCmd::Cas,
    }
}

/// The wall clock as a log line's `ts`.
pub fn now() -> Stamp {
    let us = crate::storage::unix_us();
    Stamp {
        secs: us / 1_000_000,
        micros: (us % 1_000_000) as u32,
    }
}
