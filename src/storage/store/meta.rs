//! The meta protocol's commands on the store: mg with touch, vivify-on-miss and recache
//! wins; ms with stale writes; md that marks stale instead of removing; ma that creates its
//! counter; me's debug view. The anti-stampede state lives in `storage::marks`.

use super::Store;
use crate::storage::hash::hash_key;
use crate::storage::item::{self, FETCHED};
use crate::storage::marks::{BINARY, STALE, TOKEN_SENT};
use crate::storage::types::{
    ItemView, MetaArithResult, MetaDeleteResult, MetaGetReq, MetaItem, MetaTimes, MetaTtl,
    StoreMode, StoreResult,
};

impl Store {
    /// mg: the item (made empty under `vivify` on a miss) and what mg reports of it.
    pub fn meta_get(&mut self, key: &[u8], r: &MetaGetReq) -> Option<MetaItem<'_>> {
        let hash = hash_key(key);
        let touching = r.ttl.touch.is_some();
        let (h, created) = match self.lookup(key, hash) {
            Some(h) => (h, false),
            None => match r.ttl.vivify.is_some() {
                true => match self.write_item(key, hash, 0, 0, b"", b"") {
                    Some(h) => (h, true),
                    None => return self.meta_get_miss(),
                },
                false => return self.meta_get_miss(),
            },
        };
        let c = self.mem.slab.class_of(h);
        // memcached counts a hit under T as a touch, and every miss as a get miss.
        if touching {
            self.mem.stats.cmd_touch += 1;
            self.mem.stats.touch_hits += 1;
            self.mem.cls[c].touch_hits += 1;
        } else {
            self.mem.stats.get_hits += 1;
            self.mem.cls[c].get_hits += 1;
        }
        let hd = item::head(self.mem.slab.chunk(h));
        let times = self.meta_times(hd.exp, &r.ttl, created);
        let bits = self.marks.get(hd.ver);
        let token_sent = bits & TOKEN_SENT != 0;
        let stale = bits & STALE != 0;
        let exp_at_r = match r.touch_before_recache {
            true => times.exp_touch,
            false => hd.exp,
        };
        let recache = r.recache.map(|t| self.clock.abs_exptime(t));
        let won = (created && r.ttl.vivify.is_some())
            || (stale && !token_sent)
            || recache.is_some_and(|rt| !token_sent && !created && exp_at_r != 0 && exp_at_r < rt);
        self.meta_apply_ttl(h, hd.exp, &times, &r.ttl);
        let won = won && !r.no_win;
        if won {
            self.put_mark(h, bits | TOKEN_SENT);
        }
        if r.bump {
            self.bump(h);
        }
        let b = self.mem.slab.chunk(h);
        Some(MetaItem {
            view: ItemView::of(&item::head(b), b, self.shown_cas(item::version(b))),
            times,
            idle: self.idle_secs(hd.ver),
            fetched: hd.word & FETCHED != 0,
            token_sent,
            stale,
            won,
            binary: bits & BINARY != 0,
            class: c as u32 + 1,
            size: item::total(b) as u32,
        })
    }

    fn meta_get_miss(&mut self) -> Option<MetaItem<'_>> {
        self.mem.stats.get_misses += 1;
        None
    }

    /// The TTLs a reply's `t` flags may show: before, after `T`, after `N`.
    fn meta_times(&self, exp: u32, ttl: &MetaTtl, created: bool) -> MetaTimes {
        let abs = |t: Option<i64>| t.map_or(0, |t| self.clock.abs_exptime(t));
        MetaTimes {
            now: self.clock.now_secs,
            exp: if created { 0 } else { exp },
            exp_touch: abs(ttl.touch),
            exp_vivify: abs(ttl.vivify),
            created,
        }
    }

    /// Applies `T` and (on a created item) `N` in request order; logs a change.
    fn meta_apply_ttl(&mut self, h: u32, old: u32, t: &MetaTimes, ttl: &MetaTtl) {
        let vivify = (t.created && ttl.vivify.is_some()).then_some(t.exp_vivify);
        let touch = ttl.touch.map(|_| t.exp_touch);
        let exp = match (touch, vivify) {
            (Some(a), Some(b)) => {
                if ttl.vivify_after_touch {
                    b
                } else {
                    a
                }
            }
            (a, b) => a.or(b).unwrap_or(old),
        };
        if exp != item::exptime(self.mem.slab.chunk(h)) {
            item::set_exptime(self.mem.slab.chunk_mut(h), exp);
            self.log_touch(h);
        }
    }

    /// Seconds since the item was last written: items keep no separate access time.
    fn idle_secs(&self, version: u64) -> u32 {
        let written = ((version >> 20) / 1000) as u32;
        self.clock.now_secs.saturating_sub(written)
    }

    /// Sets item `h`'s mark bits under its current version, and sends them to the twin.
    fn put_mark(&mut self, h: u32, bits: u8) {
        let b = self.mem.slab.chunk(h);
        let version = item::version(b);
        self.marks.set(version, item::key(b), bits);
        self.log_mark(h, bits);
        if self.marks.wants_prune() {
            let (mem, clock) = (&self.mem, &self.clock);
            self.marks.prune(|key, v| {
                mem.index
                    .find(&mem.slab, hash_key(key), key)
                    .is_some_and(|h| {
                        item::version(mem.slab.chunk(h)) == v
                            && mem.life(h, clock) == crate::storage::clock::Life::Alive
                    })
            });
        }
    }

    /// ms: a write in `mode` (never `Cas`); `cas` turns set/replace into a CAS write
    /// (memcached's C flag), and with `stale` an older CAS still stores, marked stale.
    /// Returns the result and the new item's CAS.
    #[allow(clippy::too_many_arguments)]
    pub fn meta_set(
        &mut self,
        mode: StoreMode,
        cas: Option<u64>,
        key: &[u8],
        flags: u32,
        exptime: i64,
        value: &[u8],
        stale: bool,
        binary: bool,
    ) -> (StoreResult, u64) {
        let hash = hash_key(key);
        let old = self.lookup(key, hash).map(|h| {
            let b = self.mem.slab.chunk(h);
            (item::version(b), item::exptime(b))
        });
        let mut bits = if binary { BINARY } else { 0 };
        let concat = matches!(mode, StoreMode::Append | StoreMode::Prepend);
        let r = match (mode, cas, old) {
            (StoreMode::Set | StoreMode::Replace, Some(c), Some((ver, exp)))
                if stale && c != 0 && c < self.shown_cas(ver) =>
            {
                self.mem.stats.cmd_set += 1;
                bits |= STALE | (self.marks.get(ver) & TOKEN_SENT);
                match self.write_item(key, hash, flags, exp, value, &[]) {
                    Some(_) => StoreResult::Stored,
                    None => StoreResult::OutOfMemory,
                }
            }
            (StoreMode::Set | StoreMode::Replace, Some(c), _) => {
                self.store(StoreMode::Cas(c), key, flags, exptime, value)
            }
            (_, Some(c), Some((ver, _))) if concat && c != 0 && c != self.shown_cas(ver) => {
                self.mem.stats.cmd_set += 1;
                StoreResult::Exists
            }
            _ => self.store(mode, key, flags, exptime, value),
        };
        if r != StoreResult::Stored {
            return (r, 0);
        }
        let Some(h) = self.lookup(key, hash) else {
            return (r, 0);
        };
        if bits != 0 {
            self.put_mark(h, bits);
        }
        (r, self.cas_of(h))
    }

    /// md: removes the item, or with `stale` marks it stale under a new CAS (and TTL),
    /// handing the next win token out afresh.
    pub fn meta_delete(
        &mut self,
        key: &[u8],
        cas: Option<u64>,
        stale: bool,
        touch: Option<i64>,
    ) -> MetaDeleteResult {
        let hash = hash_key(key);
        let Some(h) = self.lookup(key, hash) else {
            self.mem.stats.delete_misses += 1;
            return MetaDeleteResult::NotFound;
        };
        let ver = item::version(self.mem.slab.chunk(h));
        if cas.is_some_and(|c| c != self.shown_cas(ver)) {
            self.mem.stats.delete_misses += 1;
            return MetaDeleteResult::Exists;
        }
        if !stale {
            self.mem.stats.delete_hits += 1;
            let c = self.mem.slab.class_of(h);
            self.mem.cls[c].delete_hits += 1;
            self.remove_logged(h, key, hash);
            return MetaDeleteResult::Deleted;
        }
        let bits = (self.marks.get(ver) & BINARY) | STALE;
        self.marks.set(ver, key, 0);
        let new = self.clock.next_version();
        let b = self.mem.slab.chunk_mut(h);
        if let Some(t) = touch {
            item::set_exptime(b, self.clock.abs_exptime(t));
        }
        item::set_version(b, new);
        self.log_item(h);
        self.put_mark(h, bits);
        MetaDeleteResult::Deleted
    }

    /// ma: incr/decr with a CAS check, creating the counter at `initial` on a miss under
    /// `ttl.vivify`; `T` and `N` set the TTL afterwards, in request order.
    #[allow(clippy::too_many_arguments)]
    pub fn meta_arith(
        &mut self,
        key: &[u8],
        incr: bool,
        delta: u64,
        cas: Option<u64>,
        initial: u64,
        ttl: &MetaTtl,
    ) -> MetaArithResult {
        let hash = hash_key(key);
        // memcached rewrites a counter in place when its digits fit, keeping the item's
        // flags; otherwise it links a new item and applies T and N to the old, unlinked
        // one, so they are lost. `keeps` says which.
        let (h, value, created, exp, keeps) = match self.lookup(key, hash) {
            Some(h) => {
                let b = self.mem.slab.chunk(h);
                let (ver, exp, old_len) = (item::version(b), item::exptime(b), item::vlen(b));
                // memcached refuses an empty value before it compares the CAS.
                if old_len == 0 {
                    return MetaArithResult::NonNumeric;
                }
                if cas.is_some_and(|c| c != 0 && c != self.shown_cas(ver)) {
                    return MetaArithResult::Exists;
                }
                let bits = self.marks.get(ver);
                let value = match self.incr_decr(key, incr, delta) {
                    crate::storage::DeltaResult::Value(v) => v,
                    crate::storage::DeltaResult::NonNumeric => return MetaArithResult::NonNumeric,
                    _ => return MetaArithResult::OutOfMemory,
                };
                let Some(h) = self.lookup(key, hash) else {
                    return MetaArithResult::OutOfMemory;
                };
                let in_place = itoa::Buffer::new().format(value).len() <= old_len;
                if in_place && bits != 0 {
                    self.put_mark(h, bits);
                }
                (h, value, false, exp, in_place)
            }
            None if ttl.vivify.is_none() => {
                let _ = self.incr_decr(key, incr, delta);
                return MetaArithResult::NotFound;
            }
            None => {
                let digits = initial.to_string();
                match self.write_item(key, hash, 0, 0, digits.as_bytes(), &[]) {
                    Some(h) => (h, initial, true, 0, true),
                    None => return MetaArithResult::VivifyOutOfMemory,
                }
            }
        };
        let times = self.meta_times(exp, ttl, created);
        if keeps {
            self.meta_apply_ttl(h, exp, &times, ttl);
        }
        MetaArithResult::Value {
            value,
            cas: self.cas_of(h),
            times,
        }
    }

    /// me: the item's metadata, without counting or bumping anything.
    pub fn meta_debug(&mut self, key: &[u8]) -> Option<MetaItem<'_>> {
        let h = self.lookup(key, hash_key(key))?;
        let b = self.mem.slab.chunk(h);
        let hd = item::head(b);
        Some(MetaItem {
            view: ItemView::of(&hd, b, self.shown_cas(hd.ver)),
            times: self.meta_times(hd.exp, &MetaTtl::default(), false),
            idle: self.idle_secs(hd.ver),
            fetched: hd.word & FETCHED != 0,
            token_sent: false,
            stale: false,
            won: false,
            binary: self.marks.get(hd.ver) & BINARY != 0,
            class: self.mem.slab.class_of(h) as u32 + 1,
            size: item::total(b) as u32,
        })
    }
}
