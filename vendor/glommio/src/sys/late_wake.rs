//! corecached patch 15 ("late wake"): a sleeping executor that its own I/O wakes every few
//! microseconds is not woken by a peer at once. The peer gives it `LATE` to wake by itself
//! and wakes it only if it has not. Patch 20: a peer about to sleep on the sleeper's own CPU
//! wakes it at once all the same. Patch 21: a wake asked for inside `channels::prompt`, which
//! someone waits on, is never held.

use std::cell::{Cell, RefCell};
use std::os::unix::io::RawFd;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a peer waits for a sleeper that expects to wake by itself before it wakes it.
/// The sleeps such an executor counts as short are shorter than this.
pub(crate) const LATE: Duration = Duration::from_micros(100);

/// How soon a timer must be due for an executor that owes wakes to sleep on them. Wakes
/// owed to a sleeper on its own CPU are sent as it sleeps all the same (patch 20).
pub(crate) const BOUND: Duration = Duration::from_millis(5);

/// What a sleeper shares with the executors that may have to wake it.
#[derive(Debug, Default)]
pub(crate) struct Nap {
    /// Set as it goes to sleep when its recent sleeps were ended by its own I/O, soon;
    /// cleared as it wakes (patch 21), so that it says the sleeper is still in such a sleep.
    expects_wake: AtomicBool,
    /// Its wake-ups so far: a peer that sees it move knows the sleeper has woken since.
    wakes: AtomicU32,
    /// The CPU of its last sleep in which it expected to wake by itself, the only sleeps a
    /// wake can be owed for (patch 20): a peer about to sleep on the same CPU wakes it at
    /// once, since the wake needs no IPI and the CPU would otherwise idle.
    cpu: AtomicU32,
    /// One more than `wakes` as it was when a prompt sender last sent this sleeper the
    /// extra wake of patch 21: one such wake per sleep, whichever thread sends it.
    prompted: AtomicU32,
}

impl Nap {
    pub(crate) fn expects_wake(&self) -> bool {
        self.expects_wake.load(Ordering::Relaxed)
    }

    /// Patch 21: claims the one extra wake a prompt sender sends a sleep whose wake another
    /// notify took; true for the first claim in this sleep. The caller read `should_notify`
    /// with `Acquire` after the sleep announced itself, so `wakes` is no older than that
    /// sleep.
    pub(crate) fn claim_prompt(&self) -> bool {
        let mark = self.wakes.load(Ordering::Relaxed).wrapping_add(1);
        self.prompted.swap(mark, Ordering::Relaxed) != mark
    }

    /// The owner has woken. It reads its channels after this; the fence pairs with the
    /// one a peer takes after publishing a message and before it reads `wakes`, so either
    /// the peer sees the wake-up or the owner sees the message.
    pub(crate) fn woke(&self) {
        self.expects_wake.store(false, Ordering::Relaxed);
        self.wakes.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }
}

/// A wake this thread owes a sleeper unless the sleeper wakes by itself first.
struct Owed {
    id: usize,
    fd: RawFd,
    nap: Arc<Nap>,
    seen: u32,
    due: Instant,
}

thread_local! {
    static OWED: RefCell<Vec<Owed>> = const { RefCell::new(Vec::new()) };
    /// Set inside `channels::prompt` and while a `channels::prompt_wake` future is polled
    /// (patch 21).
    static PROMPT: Cell<bool> = const { Cell::new(false) };
}

/// While alive, the wakes this thread asks for are not held back (patch 21). It keeps the
/// flag as it found it, so that an inner scope ending leaves an outer one in force.
pub(crate) struct Prompt(bool);

impl Prompt {
    #[must_use]
    pub(crate) fn begin() -> Prompt {
        Prompt(PROMPT.with(|p| p.replace(true)))
    }
}

impl Drop for Prompt {
    fn drop(&mut self) {
        PROMPT.with(|p| p.set(self.0));
    }
}

/// Whether a wake asked for now may be held back: not inside `channels::prompt`.
pub(crate) fn may_hold() -> bool {
    !PROMPT.with(Cell::get)
}

/// Owes sleeper `id` (main ring `fd`) a wake within [`LATE`]; the caller has published its
/// message and taken the fence of `SleepNotifier::notify`.
pub(crate) fn owe(id: usize, fd: RawFd, nap: &Arc<Nap>) {
    let seen = nap.wakes.load(Ordering::SeqCst);
    OWED.with(|o| {
        let mut owed = o.borrow_mut();
        // By the sleeper itself, not its fd: a ring fd number a dead executor left may be
        // reused, and its listed wake would then be settled against the wrong sleeper.
        match owed.iter_mut().find(|w| Arc::ptr_eq(&w.nap, nap)) {
            // Still owed from before, and the sleeper has not woken since: that wake
            // covers this message too, and no later.
            Some(w) if w.seen == seen => {}
            // Owed from before a wake-up the sleeper has had since: settling would drop
            // it, and this message with it, so it starts again from now.
            Some(w) => {
                w.seen = seen;
                w.due = Instant::now() + LATE;
            }
            None => owed.push(Owed {
                id,
                fd,
                nap: nap.clone(),
                seen,
                due: Instant::now() + LATE,
            }),
        }
    });
}

impl Owed {
    /// The sleeper has woken since this wake was owed: it reads its channels after that.
    fn answered(&self) -> bool {
        self.nap.wakes.load(Ordering::SeqCst) != self.seen
    }
}

/// Drops the wakes whose sleeper has woken, hands `send` (id, ring fd) those for which
/// `now` is true, and returns when the earliest of the rest falls due.
fn settle_where(
    mut now: impl FnMut(&Owed) -> bool,
    mut send: impl FnMut(usize, RawFd),
) -> Option<Instant> {
    OWED.with(|o| {
        let mut next: Option<Instant> = None;
        o.borrow_mut().retain(|w| {
            if w.answered() {
                return false;
            }
            if now(w) {
                send(w.id, w.fd);
                return false;
            }
            next = Some(next.map_or(w.due, |n| n.min(w.due)));
            true
        });
        next
    })
}

/// Drops the wakes whose sleeper has woken, hands `send` (id, ring fd) those that are due,
/// and returns when the next one falls due.
pub(crate) fn settle(send: impl FnMut(usize, RawFd)) -> Option<Instant> {
    if OWED.with(|o| o.borrow().is_empty()) {
        return None;
    }
    // corecached patch 17: settled by the reactor between runs of tasks.
    let now = super::lap_clock::now();
    settle_where(|w| w.due <= now, send)
}

/// Hands `send` the wakes still owed to sleepers that last slept on `cpu` (patch 20), and
/// returns when the earliest of the rest falls due.
pub(crate) fn settle_on_cpu(cpu: u32, send: impl FnMut(usize, RawFd)) -> Option<Instant> {
    settle_where(|w| w.nap.cpu.load(Ordering::Relaxed) == cpu, send)
}

/// The CPU this thread runs on (`sched_getcpu`: a read of the thread's rseq area with
/// glibc 2.35 and later, the vDSO before).
pub(crate) fn this_cpu() -> u32 {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    // Where it cannot answer (-1) on both sides, the owed wakes go at once, as `settle_all`
    // sends them: early, never lost.
    cpu as u32
}

/// Hands `send` every wake still owed to a sleeper that has not woken.
pub(crate) fn settle_all(send: impl FnMut(usize, RawFd)) {
    settle_where(|_| true, send);
}

/// Every wake still owed, for a reactor that goes away.
pub(crate) fn take_all() -> Vec<usize> {
    OWED.with(|o| o.borrow_mut().drain(..).map(|w| w.id).collect())
}

/// A sleeper's record of how its recent sleeps ended, in 1/65536ths: near 65536 when nearly
/// all were ended by its own I/O within [`LATE`].
#[derive(Debug, Default)]
pub(crate) struct Score {
    score: Cell<u32>,
    /// When this sleep began.
    since: Cell<Option<Instant>>,
}

/// Above this (0.9), the sleeper tells peers it expects to wake by itself.
const EXPECT: u32 = 58_982;

impl Score {
    /// Whether this executor expected, as it last went to sleep, to wake by itself soon.
    pub(crate) fn expects(&self) -> bool {
        self.score.get() >= EXPECT
    }

    /// Before a sleep: what to tell peers.
    pub(crate) fn before_sleep(&self, nap: &Nap) {
        let expects = self.expects();
        self.since.set(Some(super::lap_clock::now()));
        if expects {
            nap.cpu.store(this_cpu(), Ordering::Relaxed);
        }
        nap.expects_wake.store(expects, Ordering::Relaxed);
    }

    /// After it: `by_peer` when a peer's ring message was among what ended it, `late` when
    /// that message came late. A late wake is a miss and counts heavily, so that a sleeper
    /// whose I/O waits on its peers soon asks to be woken at once again. Any other peer's
    /// wake says nothing of the sleeper's own I/O.
    pub(crate) fn after_sleep(&self, by_peer: bool, late: bool) {
        let Some(since) = self.since.take() else {
            return;
        };
        let s = self.score.get();
        self.score.set(match (by_peer, late) {
            (_, true) => s * 7 / 8,
            (true, false) => s,
            // `wait` took a fresh reading as the sleep ended (patch 17).
            (false, _) if super::lap_clock::now().saturating_duration_since(since) < LATE => {
                s + (65_536 - s) / 64
            }
            (false, _) => s - s / 256,
        });
    }
}
