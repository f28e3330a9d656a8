//! One load thread: drives its own connections with non-blocking sockets and epoll through
//! the prefill, warmup and measured phases, and sends per-second stats to the main thread.
//! Nothing here allocates per request: buffers, slots and part queues are all reused.

use crate::cli::{Config, Protocol};
use crate::conn::{Epoll, Part, ReadOutcome, Sock};
use crate::ketama::Ketama;
use crate::keys::{KeyGen, Values, push_key};
use crate::stats::{GET, Interval, SET};
use crate::{proto_binary, proto_meta, proto_text};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

mod replies;

/// State every thread sees: a failure flag so one thread's error stops all, and counters
/// that hold threads together between phases.
pub struct Shared {
    pub abort: AtomicBool,
    pub arrived: [AtomicUsize; 3],
}

pub enum Msg {
    /// Measured stats of one thread (by id) for one second (the last one may be shorter).
    Interval(usize, Box<Interval>),
    /// Sent by thread `id` once, as its last message.
    Done(usize, Result<ThreadResult, String>),
    /// A thread has stored its share of the key space.
    PrefillDone,
}

pub struct ThreadResult {
    pub prefill_ops: u64,
    pub warmup_ops: u64,
    pub measured: Duration,
    pub mismatches: u64,
    pub mismatch_sample: Vec<String>,
    pub error_sample: Vec<String>,
    pub unsent: u64,
}

/// Marks an error caused by another thread's failure; the main thread reports that one.
pub const ABORTED: &str = "aborted";

#[derive(Clone, Copy)]
struct Slot {
    intended: Instant,
    sent: Instant,
    parts_left: u32,
    cmd: usize,
    nkeys: u32,
    hits: u32,
    errored: bool,
    bytes: u64,
}

struct Conn {
    slots: Vec<Slot>,
    free: Vec<u32>,
    inflight: usize,
    next_due: Instant,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Prefill,
    Warmup,
    Measure,
}

pub struct Worker {
    id: usize,
    cfg: Arc<Config>,
    shared: Arc<Shared>,
    tx: Sender<Msg>,
    nservers: usize,
    socks: Vec<Sock>,
    conns: Vec<Conn>,
    epoll: Epoll,
    ketama: Option<Arc<Ketama>>,
    rng: SmallRng,
    keys: KeyGen,
    vals: Arc<Values>,
    prefix: Vec<u8>,
    scratch: Vec<u8>,
    keybuf: Vec<u8>,
    dirty: Vec<usize>,
    per_server: Vec<u32>,
    set_cut: u32,
    weight_sum: u32,

    mode: Mode,
    depth: usize,
    budget: Option<u64>,
    deadline: Option<Instant>,
    issuing: bool,
    open_interval: Option<Duration>,
    prefill_next: u64,
    prefill_end: u64,
    inflight: usize,

    cur: Interval,
    start: Instant,
    tick_start: Instant,
    last_completion: Instant,
    prefill_ops: u64,
    warmup_ops: u64,
    mismatches: u64,
    mismatch_sample: Vec<String>,
    error_sample: Vec<String>,
    unsent: u64,
}

const SAMPLE: usize = 5;

impl Worker {
    /// `socks` are this thread's sockets, `nservers` per logical connection, in server order.
    pub fn new(
        id: usize,
        cfg: Arc<Config>,
        shared: Arc<Shared>,
        tx: Sender<Msg>,
        socks: Vec<Sock>,
        ketama: Option<Arc<Ketama>>,
        vals: Arc<Values>,
    ) -> Result<Worker, String> {
        let nservers = cfg.servers.len();
        let depth = cfg.pipeline.max(PREFILL_DEPTH);
        let epoll = Epoll::new(socks.len()).map_err(|e| format!("epoll: {e}"))?;
        for (i, s) in socks.iter().enumerate() {
            epoll
                .add(s.fd(), i as u64)
                .map_err(|e| format!("epoll_ctl: {e}"))?;
        }
        let now = Instant::now();
        let blank = Slot {
            intended: now,
            sent: now,
            parts_left: 0,
            cmd: GET,
            nkeys: 0,
            hits: 0,
            errored: false,
            bytes: 0,
        };
        let nconns = socks.len() / nservers;
        let conns = (0..nconns)
            .map(|_| Conn {
                slots: vec![blank; depth],
                free: (0..depth as u32).rev().collect(),
                inflight: 0,
                next_due: now,
            })
            .collect();
        let seed = cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ id as u64;
        let start_key = cfg.key_space / cfg.threads as u64 * id as u64;
        Ok(Worker {
            id,
            nservers,
            keys: KeyGen::new(&cfg.key_pattern, cfg.key_space, start_key),
            prefix: cfg.key_prefix.as_bytes().to_vec(),
            set_cut: cfg.set_weight,
            weight_sum: cfg.set_weight + cfg.get_weight,
            per_server: vec![0; nservers],
            dirty: Vec::with_capacity(socks.len()),
            scratch: Vec::with_capacity(256),
            keybuf: Vec::with_capacity(256),
            rng: SmallRng::seed_from_u64(seed),
            cfg,
            shared,
            tx,
            socks,
            conns,
            epoll,
            ketama,
            vals,
            mode: Mode::Prefill,
            depth,
            budget: None,
            deadline: None,
            issuing: false,
            open_interval: None,
            prefill_next: 0,
            prefill_end: 0,
            inflight: 0,
            cur: Interval::new(0),
            start: now,
            tick_start: now,
            last_completion: now,
            prefill_ops: 0,
            warmup_ops: 0,
            mismatches: 0,
            mismatch_sample: Vec::new(),
            error_sample: Vec::new(),
            unsent: 0,
        })
    }

    pub fn run(mut self) {
        let r = self.run_all();
        if let Err(e) = &r
            && e != ABORTED
        {
            self.shared.abort.store(true, Ordering::SeqCst);
        }
        let _ = self.tx.send(Msg::Done(self.id, r));
    }

    fn run_all(&mut self) -> Result<ThreadResult, String> {
        let cfg = self.cfg.clone();
        // Open-loop sends are timed by epoll timeouts; the default 50 us timer slack would
        // make every one of them late by that much.
        // SAFETY: prctl with an integer argument changes only this thread's slack.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) };
        if cfg.prefill {
            let per = cfg.key_space / cfg.threads as u64;
            self.prefill_next = per * self.id as u64;
            self.prefill_end = if self.id + 1 == cfg.threads {
                cfg.key_space
            } else {
                per * (self.id as u64 + 1)
            };
            self.run_phase(Mode::Prefill)?;
            let _ = self.tx.send(Msg::PrefillDone);
            self.sync(0)?;
        }
        if cfg.warmup > 0.0 {
            self.run_phase(Mode::Warmup)?;
            self.sync(1)?;
        }
        self.run_phase(Mode::Measure)?;
        Ok(ThreadResult {
            prefill_ops: self.prefill_ops,
            warmup_ops: self.warmup_ops,
            measured: self.last_completion.saturating_duration_since(self.start),
            mismatches: self.mismatches,
            mismatch_sample: std::mem::take(&mut self.mismatch_sample),
            error_sample: std::mem::take(&mut self.error_sample),
            unsent: self.unsent,
        })
    }

    /// Waits until every thread has reached point `i`, so phases start together.
    fn sync(&self, i: usize) -> Result<(), String> {
        self.shared.arrived[i].fetch_add(1, Ordering::SeqCst);
        while self.shared.arrived[i].load(Ordering::SeqCst) < self.cfg.threads {
            if self.shared.abort.load(Ordering::Relaxed) {
                return Err(ABORTED.into());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    fn server_name(&self, si: usize) -> &str {
        &self.cfg.servers[self.socks[si].server].name
    }

    fn run_phase(&mut self, mode: Mode) -> Result<(), String> {
        let cfg = self.cfg.clone();
        let now = Instant::now();
        self.mode = mode;
        self.issuing = true;
        match mode {
            Mode::Prefill => {
                // Deep pipelines make filling the key space quick even at --pipeline 1.
                self.depth = cfg.pipeline.max(PREFILL_DEPTH);
                self.budget = None;
                self.deadline = None;
                self.open_interval = None;
            }
            Mode::Warmup | Mode::Measure => {
                self.depth = cfg.pipeline;
                let secs = if mode == Mode::Warmup {
                    Some(cfg.warmup)
                } else {
                    cfg.test_time
                };
                self.deadline = secs.map(|s| now + Duration::from_secs_f64(s));
                self.budget = if mode == Mode::Measure {
                    cfg.requests.map(|n| {
                        let t = cfg.threads as u64;
                        n / t + u64::from((self.id as u64) < n % t)
                    })
                } else {
                    None
                };
                let total_conns = (cfg.threads * self.conns.len()) as f64;
                self.open_interval = cfg.rate.map(|r| Duration::from_secs_f64(total_conns / r));
            }
        }
        if mode == Mode::Measure {
            self.start = now;
            self.tick_start = now;
            self.last_completion = now;
            self.cur = Interval::new(0);
        }
        let nconns = self.conns.len();
        if let Some(iv) = self.open_interval {
            // Stagger the connections' schedules evenly so the sum is smooth, not bursty.
            for c in 0..nconns {
                let global = (self.id * nconns + c) as f64;
                self.conns[c].next_due =
                    now + iv.mul_f64(global / (self.cfg.threads * nconns) as f64);
            }
        } else {
            for c in 0..nconns {
                while self.conns[c].inflight < self.depth && self.can_issue(now) {
                    self.issue(c, now, now);
                }
            }
        }
        self.flush_dirty()?;

        let mut drain_until: Option<Instant> = None;
        let mut next_tick = now + Duration::from_secs(1);
        loop {
            if self.shared.abort.load(Ordering::Relaxed) {
                return Err(ABORTED.into());
            }
            let now = Instant::now();
            if self.issuing && !self.can_issue(now) {
                self.issuing = false;
                drain_until = Some(now + DRAIN_LIMIT);
                if mode == Mode::Measure {
                    self.unsent = self.backlog();
                }
            }
            let mut wake = now + Duration::from_millis(100);
            if self.issuing {
                if let Some(iv) = self.open_interval {
                    for c in 0..nconns {
                        while self.conns[c].inflight < self.depth
                            && self.conns[c].next_due <= now
                            && self.can_issue(now)
                        {
                            let due = self.conns[c].next_due;
                            self.issue(c, due, now);
                            self.conns[c].next_due = due + iv;
                        }
                        // A connection that is behind waits for a reply, not for a timer.
                        if self.conns[c].inflight < self.depth {
                            wake = wake.min(self.conns[c].next_due);
                        }
                    }
                }
                if let Some(d) = self.deadline {
                    wake = wake.min(d);
                }
            }
            self.flush_dirty()?;
            if !self.issuing && self.inflight == 0 {
                break;
            }
            if let Some(d) = drain_until
                && now > d
            {
                return Err(format!(
                    "server stopped answering: {} requests still unanswered {}s after the end",
                    self.inflight,
                    DRAIN_LIMIT.as_secs()
                ));
            }
            if mode == Mode::Measure {
                while now >= next_tick {
                    self.send_interval(next_tick);
                    next_tick += Duration::from_secs(1);
                }
                wake = wake.min(next_tick);
            }
            let timeout = wake
                .saturating_duration_since(now)
                .min(Duration::from_secs(1));
            let n = self
                .epoll
                .wait(timeout)
                .map_err(|e| format!("epoll_wait: {e}"))?;
            for i in 0..n {
                let (token, ev) = self.epoll.event(i);
                let si = token as usize;
                let readable =
                    (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP | libc::EPOLLRDHUP) as u32;
                if ev & readable != 0 {
                    let hup = (libc::EPOLLERR | libc::EPOLLHUP | libc::EPOLLRDHUP) as u32;
                    self.on_readable(si, ev & hup != 0)?;
                }
                if ev & libc::EPOLLOUT as u32 != 0
                    && self.socks[si].wpos < self.socks[si].wbuf.len()
                {
                    self.mark_dirty(si);
                }
            }
            self.flush_dirty()?;
        }
        if mode == Mode::Measure {
            let end = self.last_completion.max(self.tick_start);
            self.send_interval(end);
        }
        Ok(())
    }

    /// Open-loop sends that fell due before the deadline but never went out because their
    /// connection was still waiting: the server could not keep up with --rate. Reported,
    /// since the latency of a request never sent cannot be recorded.
    fn backlog(&self) -> u64 {
        let (Some(iv), Some(end)) = (self.open_interval, self.deadline) else {
            return 0;
        };
        if self.budget == Some(0) {
            return 0;
        }
        self.conns
            .iter()
            .filter(|c| c.next_due < end)
            .map(|c| {
                let late = end.duration_since(c.next_due).as_secs_f64();
                (late / iv.as_secs_f64()).ceil() as u64
            })
            .sum()
    }

    fn send_interval(&mut self, at: Instant) {
        let next = Interval::new(self.cur.index + 1);
        let mut iv = std::mem::replace(&mut self.cur, next);
        iv.dur = at.saturating_duration_since(self.tick_start);
        self.tick_start = at;
        let _ = self.tx.send(Msg::Interval(self.id, Box::new(iv)));
    }

    #[inline]
    fn can_issue(&self, now: Instant) -> bool {
        if self.mode == Mode::Prefill {
            return self.prefill_next < self.prefill_end;
        }
        if self.budget == Some(0) {
            return false;
        }
        self.deadline.is_none_or(|d| now < d)
    }

    #[inline]
    fn mark_dirty(&mut self, si: usize) {
        if !self.socks[si].dirty {
            self.socks[si].dirty = true;
            self.dirty.push(si);
        }
    }

    fn flush_dirty(&mut self) -> Result<(), String> {
        while let Some(si) = self.dirty.pop() {
            self.socks[si].dirty = false;
            if let Err(e) = self.socks[si].flush() {
                return Err(format!("write to server {}: {e}", self.server_name(si)));
            }
        }
        Ok(())
    }

    #[inline]
    fn route(&self, key: &[u8]) -> usize {
        match &self.ketama {
            Some(k) => k.server(key),
            None => 0,
        }
    }

    /// Queues one request on logical connection `c`; the caller has checked there is room.
    fn issue(&mut self, c: usize, intended: Instant, now: Instant) {
        let slot = self.conns[c].free.pop().expect("caller checked depth");
        if let Some(b) = &mut self.budget {
            *b -= 1;
        }
        let is_set = match self.mode {
            Mode::Prefill => true,
            _ => self.rng.gen_range(0..self.weight_sum) < self.set_cut,
        };
        let base = c * self.nservers;
        let mut parts = 0u32;
        let mut bytes = 0u64;
        let nkeys;
        if is_set {
            let k = if self.mode == Mode::Prefill {
                self.prefill_next += 1;
                self.prefill_next - 1
            } else {
                self.keys.next(&mut self.rng)
            };
            let server = if self.nservers > 1 {
                self.keybuf.clear();
                push_key(&mut self.keybuf, &self.prefix, k);
                self.route(&self.keybuf)
            } else {
                0
            };
            let si = base + server;
            let s = &mut self.socks[si];
            let before = s.wbuf.len();
            let (w, scratch) = (&mut s.wbuf, &mut self.scratch);
            match self.cfg.protocol {
                Protocol::Text => proto_text::push_set(w, scratch, &self.prefix, k, &self.vals),
                Protocol::Meta => proto_meta::push_set(w, scratch, &self.prefix, k, &self.vals),
                Protocol::Binary => proto_binary::push_set(w, scratch, &self.prefix, k, &self.vals),
            }
            bytes += (s.wbuf.len() - before) as u64;
            s.parts.push_back(Part { slot, cmd: SET });
            parts = 1;
            nkeys = 1;
            self.mark_dirty(si);
        } else {
            nkeys = self.cfg.multiget as u32;
            self.per_server.iter_mut().for_each(|n| *n = 0);
            for _ in 0..nkeys {
                let k = self.keys.next(&mut self.rng);
                let server = if self.nservers > 1 {
                    self.keybuf.clear();
                    push_key(&mut self.keybuf, &self.prefix, k);
                    self.route(&self.keybuf)
                } else {
                    0
                };
                let s = &mut self.socks[base + server];
                let before = s.wbuf.len();
                match self.cfg.protocol {
                    Protocol::Meta => proto_meta::push_get(&mut s.wbuf, &self.prefix, k),
                    Protocol::Binary => {
                        let quiet = self.cfg.multiget > 1;
                        proto_binary::push_get(
                            &mut s.wbuf,
                            &mut self.scratch,
                            &self.prefix,
                            k,
                            quiet,
                        )
                    }
                    Protocol::Text => {
                        if self.per_server[server] == 0 {
                            s.wbuf.extend_from_slice(b"get");
                        }
                        s.wbuf.push(b' ');
                        push_key(&mut s.wbuf, &self.prefix, k);
                    }
                }
                bytes += (s.wbuf.len() - before) as u64;
                self.per_server[server] += 1;
            }
            for server in 0..self.nservers {
                let n = self.per_server[server];
                if n > 0 {
                    let si = base + server;
                    let w = &mut self.socks[si].wbuf;
                    let before = w.len();
                    match self.cfg.protocol {
                        Protocol::Text => w.extend_from_slice(b"\r\n"),
                        Protocol::Meta => proto_meta::push_end(w),
                        // A single GETK is answered hit or miss: nothing to close.
                        Protocol::Binary if self.cfg.multiget > 1 => proto_binary::push_end(w),
                        Protocol::Binary => {}
                    }
                    bytes += (w.len() - before) as u64;
                    self.socks[si].parts.push_back(Part { slot, cmd: GET });
                    parts += 1;
                    self.mark_dirty(si);
                }
            }
        }
        self.conns[c].slots[slot as usize] = Slot {
            intended,
            sent: now,
            parts_left: parts,
            cmd: if is_set { SET } else { GET },
            nkeys,
            hits: 0,
            errored: false,
            bytes,
        };
        self.conns[c].inflight += 1;
        self.inflight += 1;
    }

    /// `hup`: the peer closed or errored, so read to the end to see it instead of stopping
    /// at a short read (edge-triggered epoll will not report the close again).
    fn on_readable(&mut self, si: usize, hup: bool) -> Result<(), String> {
        loop {
            let out = match self.socks[si].read_some() {
                Ok(o) => o,
                Err(e) => return Err(format!("read from server {}: {e}", self.server_name(si))),
            };
            match out {
                ReadOutcome::WouldBlock => return Ok(()),
                ReadOutcome::Closed => {
                    return Err(format!(
                        "server {} closed the connection ({} replies outstanding)",
                        self.server_name(si),
                        self.socks[si].parts.len()
                    ));
                }
                ReadOutcome::Data(n) => {
                    let full = self.socks[si].read_room() == 0;
                    if n > 0 {
                        self.parse_available(si, Instant::now())?;
                    }
                    // A short read emptied the kernel buffer; the next edge brings more.
                    if n > 0 && !full && !hup {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn parse_available(&mut self, si: usize, now: Instant) -> Result<(), String> {
        // Moved out (no copy) so replies can be handled while the bytes are borrowed.
        let rbuf = std::mem::take(&mut self.socks[si].rbuf);
        let end = self.socks[si].rend;
        let mut pos = self.socks[si].rstart;
        let res = loop {
            let buf = &rbuf[pos..end];
            let parsed = match self.cfg.protocol {
                Protocol::Text => proto_text::parse(buf).map(|o| o.map(|(i, n)| (i, false, n))),
                Protocol::Meta => proto_meta::parse(buf).map(|o| o.map(|(i, n)| (i, false, n))),
                Protocol::Binary => {
                    proto_binary::parse(buf).map(|o| o.map(|(r, n)| (r.item, r.last, n)))
                }
            };
            match parsed {
                Err(e) => {
                    break Err(format!(
                        "protocol error from server {}: {}",
                        self.server_name(si),
                        e.0
                    ));
                }
                Ok(None) => break Ok(()),
                Ok(Some((item, last, used))) => {
                    pos += used;
                    if let Err(e) = self.on_item(si, item, last, used as u64, now) {
                        break Err(e);
                    }
                }
            }
        };
        let s = &mut self.socks[si];
        s.rbuf = rbuf;
        s.rstart = pos;
        res
    }

    fn finish(&mut self, c: usize, slot_idx: u32, now: Instant) {
        let s = self.conns[c].slots[slot_idx as usize];
        self.conns[c].free.push(slot_idx);
        self.conns[c].inflight -= 1;
        self.inflight -= 1;
        let ops = s.nkeys as u64;
        match self.mode {
            Mode::Prefill => self.prefill_ops += ops,
            Mode::Warmup => self.warmup_ops += ops,
            Mode::Measure => {
                let st = &mut self.cur.cmds[s.cmd];
                st.ops += ops;
                st.requests += 1;
                st.bytes += s.bytes;
                if s.errored {
                    st.errors += 1;
                } else if s.cmd == GET {
                    st.hits += s.hits as u64;
                    st.misses += (s.nkeys - s.hits.min(s.nkeys)) as u64;
                }
                let lat = now.saturating_duration_since(s.intended).as_nanos() as u64;
                st.lat.saturating_record(lat.max(1));
                if self.open_interval.is_some() {
                    let raw = now.saturating_duration_since(s.sent).as_nanos() as u64;
                    st.lat_uncorrected.saturating_record(raw.max(1));
                }
                self.last_completion = now;
            }
        }
        // Closed loop: a reply frees the connection to ask again at once.
        if self.open_interval.is_none() && self.issuing && self.can_issue(now) {
            self.issue(c, now, now);
        }
    }
}

const PREFILL_DEPTH: usize = 16;
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
