//! Unit tests of the store, by topic, with the helpers they share.

use super::counter::fmt_u64;
use super::*;
use crate::storage::{DeltaResult, StoreMode, StoreResult};

const T0: u64 = 1_700_000_000_000;
const DAY: i64 = 86_400;

fn store_with(cfg: StoreConfig) -> Store {
    let mut s = Store::new(cfg).unwrap();
    s.set_clock(T0);
    s
}

fn st() -> Store {
    store_with(StoreConfig::default())
}

fn val(s: &mut Store, k: &[u8]) -> Option<Vec<u8>> {
    s.get(k).map(|v| v.value.to_vec())
}

fn cas_of(s: &mut Store, k: &[u8]) -> u64 {
    s.get(k).unwrap().cas
}

fn advance(s: &mut Store, secs: u64) {
    let now = s.clock.now_ms;
    s.set_clock(now + secs * 1000);
}

use StoreMode::*;
use StoreResult::*;

mod commands;
mod dumps;
mod expiry;
mod log_stats;
mod memory;
mod replica;
