//! Model-based property tests: random command sequences against a plain HashMap model with the
//! same fake clock. Without memory pressure every answer must match; under pressure the store
//! must stay within its limit, never return a wrong value, keep the latest write readable, and
//! account for every lost key with an eviction.

use std::collections::HashMap;

use proptest::prelude::*;

use super::hash::hash_key;
use super::store::parse_counter;
use super::*;

const T0: u64 = 1_700_000_000_000;
const REL_MAX: i64 = 2_592_000;

#[derive(Clone, Debug)]
enum Op {
    Store(u8, u8, u32, i64, Vec<u8>),
    Cas(u8, bool, Vec<u8>),
    Delta(u8, bool, u64),
    Get(u8),
    Touch(u8, i64),
    Gat(u8, i64),
    Delete(u8),
    Flush(i64),
    Advance(u64),
    Reclaim(usize),
}

#[derive(Clone, Debug)]
struct MItem {
    value: Vec<u8>,
    flags: u32,
    exp: u32,
}

struct Model {
    items: HashMap<Vec<u8>, MItem>,
    now_ms: u64,
    pending: Option<u64>,
}

impl Model {
    fn now(&self) -> u32 {
        (self.now_ms / 1000) as u32
    }
    fn abs(&self, e: i64) -> u32 {
        match e {
            0 => 0,
            e if e < 0 => 1,
            e if e <= REL_MAX => self.now() + e as u32,
            e => e.min(u32::MAX as i64) as u32,
        }
    }
    fn live(&mut self, k: &[u8]) -> Option<&mut MItem> {
        let now = self.now();
        if let Some(it) = self.items.get(k)
            && it.exp != 0
            && it.exp <= now
        {
            self.items.remove(k);
        }
        self.items.get_mut(k)
    }
}

fn exptime() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        Just(-1),
        1i64..5,
        Just(REL_MAX),
        Just(REL_MAX + 1),
        (1i64..6).prop_map(|d| (T0 / 1000) as i64 + d),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        (0u64..1000).prop_map(|n| n.to_string().into_bytes()),
        Just(b"18446744073709551615".to_vec()),
    ]
}

fn op(keys: u8) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..keys, 0u8..5, prop_oneof![Just(0u32), Just(1), Just(u32::MAX)], exptime(), value())
            .prop_map(|(k, m, f, e, v)| Op::Store(k, m, f, e, v)),
        2 => (0..keys, any::<bool>(), value()).prop_map(|(k, g, v)| Op::Cas(k, g, v)),
        2 => (0..keys, any::<bool>(), prop_oneof![Just(0u64), Just(1), 2u64..100, Just(u64::MAX)])
            .prop_map(|(k, i, d)| Op::Delta(k, i, d)),
        4 => (0..keys).prop_map(Op::Get),
        1 => (0..keys, exptime()).prop_map(|(k, e)| Op::Touch(k, e)),
        1 => (0..keys, exptime()).prop_map(|(k, e)| Op::Gat(k, e)),
        1 => (0..keys).prop_map(Op::Delete),
        1 => prop_oneof![Just(0i64), Just(-1), 1i64..4].prop_map(Op::Flush),
        2 => (0u64..3000).prop_map(Op::Advance),
        1 => (1usize..50).prop_map(Op::Reclaim),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("key{k}").into_bytes()
}

/// The CAS of a live item without touching counters or bits.
fn peek(s: &Store, k: &[u8]) -> Option<u64> {
    let h = s.mem.index.find(&s.mem.slab, hash_key(k), k)?;
    s.peek_live(h)
}

fn run(ops: Vec<Op>, cfg: StoreConfig) -> Result<(), TestCaseError> {
    let pressure = cfg.mem_limit < (16 << 20);
    let limit = cfg.mem_limit as u64;
    let mut s = Store::new(cfg).unwrap();
    s.set_clock(T0);
    let mut m = Model {
        items: HashMap::new(),
        now_ms: T0,
        pending: None,
    };
    let mut lost = 0u64;
    for op in ops {
        // Under pressure, a key the model has but the store lost must have been evicted.
        if pressure {
            let ks: Vec<Vec<u8>> = m.items.keys().cloned().collect();
            for k in ks {
                if m.live(&k).is_some() && peek(&s, &k).is_none() {
                    m.items.remove(&k);
                    lost += 1;
                }
            }
        }
        apply(&mut s, &mut m, op, pressure)?;
        let st = s.stats();
        prop_assert!(st.total_pages * (1 << 20) <= limit);
        prop_assert!(
            lost <= st.evictions,
            "lost {} > evictions {}",
            lost,
            st.evictions
        );
        if !pressure {
            prop_assert_eq!(st.evictions, 0);
        }
    }
    // Every key agrees at the end.
    for k in 0..=255u8 {
        let k = key(k);
        let expect = m.live(&k).is_some();
        if !pressure || !expect {
            prop_assert_eq!(peek(&s, &k).is_some(), expect);
        }
    }
    Ok(())
}

/// Runs `op` on the store and the model and compares the answers.
fn apply(s: &mut Store, m: &mut Model, op: Op, pressure: bool) -> Result<(), TestCaseError> {
    match op {
        Op::Store(k, mode, flags, e, v) => {
            let k = key(k);
            let mode = [
                StoreMode::Set,
                StoreMode::Add,
                StoreMode::Replace,
                StoreMode::Append,
                StoreMode::Prepend,
            ][mode as usize];
            let expect = m.store(s, mode, &k, flags, e, &v);
            prop_assert_eq!(s.store(mode, &k, flags, e, &v), expect);
            if pressure && expect == StoreResult::Stored && m.live(&k).is_some() {
                prop_assert!(peek(s, &k).is_some(), "latest write not readable");
            }
        }
        Op::Cas(k, good, v) => {
            let k = key(k);
            let token = match (peek(s, &k), good) {
                (Some(c), true) => c,
                (Some(c), false) => c ^ 0x100,
                (None, _) => 12345,
            };
            let expect = m.cas(&k, good, &v);
            prop_assert_eq!(s.store(StoreMode::Cas(token), &k, 0, 0, &v), expect);
        }
        Op::Delta(k, incr, d) => {
            let k = key(k);
            let expect = m.delta(&k, incr, d);
            prop_assert_eq!(s.incr_decr(&k, incr, d), expect);
        }
        Op::Get(k) => {
            let k = key(k);
            let expect = m.live(&k).map(|it| (it.value.clone(), it.flags));
            let got = s.get(&k).map(|v| (v.value.to_vec(), v.flags));
            prop_assert_eq!(got, expect);
        }
        Op::Touch(k, e) | Op::Gat(k, e) => {
            let k = key(k);
            let exp = m.abs(e);
            let expect = m.live(&k).map(|it| {
                it.exp = exp;
                (it.value.clone(), it.flags)
            });
            if let Op::Gat(..) = op {
                let got = s.get_and_touch(&k, e).map(|v| (v.value.to_vec(), v.flags));
                prop_assert_eq!(got, expect);
            } else {
                prop_assert_eq!(s.touch(&k, e), expect.is_some());
            }
        }
        Op::Delete(k) => {
            let k = key(k);
            let expect = m.live(&k).is_some();
            m.items.remove(&k);
            prop_assert_eq!(s.delete(&k), expect);
        }
        Op::Flush(d) => {
            s.flush_all(d);
            m.flush(d);
        }
        Op::Advance(ms) => {
            m.advance(ms);
            s.set_clock(m.now_ms);
        }
        Op::Reclaim(b) => {
            s.reclaim_step(b);
        }
    }
    Ok(())
}

/// What the model expects of the commands that change items (and the change, made).
impl Model {
    fn store(
        &mut self,
        s: &Store,
        mode: StoreMode,
        k: &[u8],
        flags: u32,
        e: i64,
        v: &[u8],
    ) -> StoreResult {
        let exp = self.abs(e);
        let live = self.live(k).cloned();
        match (mode, live) {
            (StoreMode::Add, Some(_)) | (StoreMode::Replace, None) => StoreResult::NotStored,
            (StoreMode::Append | StoreMode::Prepend, None) => StoreResult::NotStored,
            (StoreMode::Append | StoreMode::Prepend, Some(old))
                if !s.item_fits(k.len(), old.value.len() + v.len()) =>
            {
                StoreResult::NotStored
            }
            (StoreMode::Append, Some(old)) => {
                let value = [&old.value[..], v].concat();
                self.items.insert(k.to_vec(), MItem { value, ..old });
                StoreResult::Stored
            }
            (StoreMode::Prepend, Some(old)) => {
                let value = [v, &old.value[..]].concat();
                self.items.insert(k.to_vec(), MItem { value, ..old });
                StoreResult::Stored
            }
            _ => {
                let value = v.to_vec();
                self.items.insert(k.to_vec(), MItem { value, flags, exp });
                StoreResult::Stored
            }
        }
    }

    fn cas(&mut self, k: &[u8], good: bool, v: &[u8]) -> StoreResult {
        match self.live(k) {
            None => StoreResult::NotFound,
            Some(_) if !good => StoreResult::Exists,
            Some(it) => {
                *it = MItem {
                    value: v.to_vec(),
                    flags: 0,
                    exp: 0,
                };
                StoreResult::Stored
            }
        }
    }

    fn delta(&mut self, k: &[u8], incr: bool, d: u64) -> DeltaResult {
        let Some(it) = self.live(k) else {
            return DeltaResult::NotFound;
        };
        let Some(n) = parse_counter(&it.value) else {
            return DeltaResult::NonNumeric;
        };
        let n2 = if incr {
            n.wrapping_add(d)
        } else {
            n.saturating_sub(d)
        };
        let mut digits = n2.to_string().into_bytes();
        if digits.len() <= it.value.len() {
            digits.resize(it.value.len(), b' ');
        }
        it.value = digits;
        DeltaResult::Value(n2)
    }

    fn flush(&mut self, d: i64) {
        if d <= 0 {
            self.items.clear();
            self.pending = None;
        } else {
            self.pending = Some(self.now_ms / 1000 * 1000 + d as u64 * 1000);
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
        if let Some(t) = self.pending
            && self.now_ms >= t
        {
            self.items.clear();
            self.pending = None;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn matches_model_without_pressure(ops in prop::collection::vec(op(12), 1..300)) {
        run(ops, StoreConfig::default())?;
    }
}

fn big_store_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..=255, 0u8..5, Just(0u32), Just(0i64), prop_oneof![
                prop::collection::vec(any::<u8>(), 0..200),
                (500usize..9000).prop_map(|n| vec![b'v'; n]),
                (200_000usize..700_000).prop_map(|n| vec![b'L'; n]),
            ]).prop_map(|(k, m, f, e, v)| Op::Store(k, m, f, e, v)),
        3 => (0u8..=255).prop_map(Op::Get),
        1 => (0u8..=255).prop_map(Op::Delete),
        1 => (0u8..=255, any::<bool>(), 0u64..10).prop_map(|(k, i, d)| Op::Delta(k, i, d)),
        1 => (0u64..2000).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn under_pressure_limit_holds_and_losses_are_evictions(
        ops in prop::collection::vec(big_store_op(), 1..600)
    ) {
        run(ops, StoreConfig { mem_limit: 3 << 20, ..StoreConfig::default() })?;
    }
}
