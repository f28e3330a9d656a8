//! The store's sense of time: the wall clock it was last given, the hybrid logical clock
//! that makes versions (= CAS values), and the one visibility rule, which decides whether an
//! item is alive, expired or hidden by a flush.

use super::item::Head;

/// The wall clock in unix milliseconds (0 before 1970), as the store and its twin link read it.
pub fn unix_ms() -> u64 {
    unix_us() / 1000
}

/// The wall clock in unix microseconds (0 before 1970). Replication stamps every logged batch
/// of writes with it and `watch` every event, so it calls `clock_gettime` directly:
/// `SystemTime`'s checked subtraction from the epoch cost about 60 instructions a read
/// (`bash benches/instructions.sh`, when a shard read it per batch).
pub fn unix_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the timespec it is given.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } != 0 || ts.tv_sec < 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// memcached's REALTIME_MAXDELTA: larger exptimes are absolute unix times.
const REL_MAX: i64 = 60 * 60 * 24 * 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Life {
    Alive,
    Flushed,
    Expired,
}

pub(crate) struct Clock {
    pub now_ms: u64,
    pub now_secs: u32,
    last_version: u64,
    /// Items with a lower version are invisible.
    flushed_below: u64,
    /// A delayed flush: at this unix time (ms), everything written before it is hidden.
    pending_flush_ms: Option<u64>,
    /// Low 8 bits of every version (replication tie-break).
    node_id: u8,
}

impl Clock {
    pub fn new(node_id: u8) -> Self {
        Clock {
            now_ms: 0,
            now_secs: 0,
            last_version: 0,
            flushed_below: 0,
            pending_flush_ms: None,
            node_id,
        }
    }

    pub fn set_node_id(&mut self, id: u8) {
        self.node_id = id;
    }

    pub fn set(&mut self, unix_ms: u64) {
        self.now_ms = unix_ms;
        self.now_secs = (unix_ms / 1000).min(u32::MAX as u64) as u32;
        if let Some(t) = self.pending_flush_ms
            && unix_ms >= t
        {
            // Everything written before this moment is hidden, even if the HLC ran ahead.
            self.hide_below((t << 20).max(self.last_version + 1));
            self.pending_flush_ms = None;
        }
    }

    pub fn next_version(&mut self) -> u64 {
        let v = ((self.last_version | 0xff) + 1).max(self.now_ms << 20);
        let v = (v & !0xff) | self.node_id as u64;
        self.last_version = v;
        v
    }

    /// The current point on the version clock, for comparing item ages.
    pub fn now_version(&self) -> u64 {
        self.last_version.max(self.now_ms << 20)
    }

    /// Hybrid logical clock receive rule: our next version is above anything seen.
    pub fn observe(&mut self, version: u64) {
        self.last_version = self.last_version.max(version & !0xff);
    }

    /// A command's exptime as absolute unix seconds (0 = never), by memcached's rules.
    pub fn abs_exptime(&self, exptime: i64) -> u32 {
        if exptime == 0 {
            0
        } else if exptime < 0 {
            // Any past time works; 1 keeps it distinct from "never".
            1
        } else if exptime <= REL_MAX {
            (self.now_secs as i64 + exptime).min(u32::MAX as i64) as u32
        } else {
            exptime.min(u32::MAX as i64) as u32
        }
    }

    /// The visibility rule: an item is hidden by a flush if it was written before the
    /// flush's version, and expired once its exptime has come.
    #[inline(always)]
    /// Whether an item of version `ver` was written less than `ms` ago (a version's high
    /// bits are its write time in milliseconds).
    pub fn written_within(&self, ver: u64, ms: u64) -> bool {
        (ver >> 20) + ms > self.now_ms
    }

    pub fn life_of(&self, hd: &Head) -> Life {
        if hd.ver < self.flushed_below {
            Life::Flushed
        } else if hd.exp != 0 && hd.exp <= self.now_secs {
            Life::Expired
        } else {
            Life::Alive
        }
    }

    /// A flush: items with a version below `before` are hidden from `at_secs` on (at once
    /// if that time has come; else from the first clock tick at or after it).
    pub fn flush(&mut self, before: u64, at_secs: u32) {
        if at_secs <= self.now_secs {
            self.hide_below(before);
        } else {
            self.pending_flush_ms = Some(u64::from(at_secs) * 1000);
        }
    }

    /// Forgets a delayed flush (a local flush replaces the one before it).
    pub fn cancel_pending_flush(&mut self) {
        self.pending_flush_ms = None;
    }

    fn hide_below(&mut self, version: u64) {
        self.flushed_below = self.flushed_below.max(version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_us_and_ms_read_the_system_clock() {
        let sys = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros() as u64
        };
        let before = sys();
        let (us, ms) = (unix_us(), unix_ms());
        let after = sys();
        assert!(before <= us && us <= after, "{before} {us} {after}");
        assert!(
            before / 1000 <= ms && ms <= after / 1000,
            "{before} {ms} {after}"
        );
    }

    fn head(ver: u64, exp: u32) -> Head {
        Head {
            ver,
            exp,
            word: 0,
            klen: 0,
        }
    }

    #[test]
    fn versions_rise_and_carry_the_node_id() {
        let mut c = Clock::new(7);
        c.set(1_000);
        let a = c.next_version();
        let b = c.next_version();
        assert!(b > a && a >= 1_000 << 20);
        assert_eq!((a & 0xff, b & 0xff), (7, 7));
        c.observe(u64::MAX << 12);
        assert!(c.next_version() > u64::MAX << 12);
    }

    #[test]
    fn one_rule_for_flushes_now_and_later() {
        let mut c = Clock::new(0);
        c.set(10_000);
        let old = head(c.next_version(), 0);
        let before = c.next_version();
        c.flush(before, 10);
        assert_eq!(c.life_of(&old), Life::Flushed);
        let written = head(c.next_version(), 0);
        assert_eq!(c.life_of(&written), Life::Alive);
        // Delayed: hidden from the first tick at or after the time, not before.
        c.flush(0, 20);
        c.set(19_999);
        assert_eq!(c.life_of(&written), Life::Alive);
        c.set(20_000);
        assert_eq!(c.life_of(&written), Life::Flushed);
        // A cancelled delayed flush hides nothing.
        let later = head(c.next_version(), 0);
        c.flush(0, 30);
        c.cancel_pending_flush();
        c.set(40_000);
        assert_eq!(c.life_of(&later), Life::Alive);
        assert_eq!(c.life_of(&head(later.ver, 40)), Life::Expired);
        assert_eq!(c.life_of(&head(later.ver, 41)), Life::Alive);
    }
}
