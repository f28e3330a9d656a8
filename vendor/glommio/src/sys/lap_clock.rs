//! corecached patch 17 ("lap clock"): the reactor's bookkeeping between two runs of tasks
//! shares one reading of the monotonic clock instead of reading it ten times a lap.

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    static NOW: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The reading taken when the reactor last saw time move on (tasks ran, the thread slept),
/// or a new one if there is none. For the reactor's own work between those points, and for
/// tasks that can live with a reading as old as their queue's run (`timer::lap_now`, patch
/// 19); a task that times itself must read the clock.
pub(crate) fn now() -> Instant {
    NOW.with(|n| match n.get() {
        Some(t) => t,
        None => fresh_in(n),
    })
}

/// Time has moved on (tasks ran, or the thread slept): reads the clock and shares the
/// reading with the bookkeeping that follows.
pub(crate) fn fresh() -> Instant {
    NOW.with(fresh_in)
}

fn fresh_in(n: &Cell<Option<Instant>>) -> Instant {
    let t = Instant::now();
    n.set(Some(t));
    t
}
