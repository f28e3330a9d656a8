//! Regression test for glommio patch 20 ("same-CPU wake", vendor/glommio/PATCHES.md): an
//! executor going to sleep wakes at once a peer on the same CPU that it owes a wake, even
//! when patch 15 would let it sleep on that wake until its own timer.
//!
//! Two executors pinned to one CPU play ping-pong over glommio shared channels, in cycles.
//! In each cycle both first sleep on short timers over and over, so each sees its sleeps end
//! by themselves, soon, and tells its peer it expects to wake by itself. Then the echo side
//! waits for the next ping with nothing of its own to wake it, and the pinger sends one while
//! its timer turns slow, due within patch 15's 5 ms bound (one short sleep may still be in
//! flight). Without patch 20 the pinger sleeps on the wake it owes until that timer fires,
//! once per cycle; with it, the wake goes with the pinger's sleep. The test counts the cycles
//! in which the slow timer fired during the round trip: a count of events, not a time limit.
//! Wakes are owed only on kernels with `IORING_OP_MSG_RING` (5.18); on older ones the test
//! passes without exercising the patch.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::{LocalExecutor, LocalExecutorBuilder, Placement};

mod common;
use common::echo::echo_then;

/// The short sleeps: well under patch 15's 100 µs, so each side expects its own wakes.
const BUSY_NAP: Duration = Duration::from_micros(20);
/// How long the echo side keeps its short sleeps up after each reply.
const ECHO_BUSY_FOR: Duration = Duration::from_millis(5);
/// How long the pinger keeps its own up: past the echo's, so the echo is waiting on the
/// channel alone when the ping comes.
const PINGER_BUSY_FOR: Duration = Duration::from_millis(8);
/// The pinger's timer during a round trip: longer than patch 15's 100 µs, within its 5 ms.
const SLOW_NAP: Duration = Duration::from_millis(4);
const CYCLES: u64 = 20;
/// glommio's default preemption timer (100 ms) would wake a sleeper in the end and hide a
/// wake never sent; the slow timer above is what should end a stall.
const PREEMPT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Cycles {
    done: u64,
    /// Cycles whose round trip outlasted one of the pinger's slow sleeps.
    waited_for_timer: u64,
}

#[test]
fn a_peer_on_the_same_cpu_is_woken_when_the_waker_sleeps() {
    let (req_tx, req_rx) = shared_channel::new_bounded::<u64>(1);
    let (rep_tx, rep_rx) = shared_channel::new_bounded::<u64>(1);
    let (done_tx, done) = mpsc::channel();

    let echo = thread::spawn(move || {
        executor("samecpu-echo").run(echo_then(req_rx, rep_tx, || naps(ECHO_BUSY_FOR)))
    });
    let pinger = thread::spawn(move || {
        let _ = done_tx.send(executor("samecpu-pinger").run(ping_cycles(req_tx, rep_rx)));
    });

    let cycles = done
        .recv_timeout(Duration::from_secs(60))
        .expect("the pinger hung");
    eprintln!("{cycles:?}");
    assert_eq!(cycles.done, CYCLES);
    assert!(
        cycles.waited_for_timer <= CYCLES / 4,
        "{} of {CYCLES} round trips lasted until the pinger's own {SLOW_NAP:?} timer: it slept \
         on the wake it owed a peer on its own CPU",
        cycles.waited_for_timer
    );
    pinger.join().unwrap();
    assert_eq!(echo.join().unwrap(), CYCLES);
}

/// The one CPU both executors run on: the first this process may use.
fn first_allowed_cpu() -> usize {
    // SAFETY: sched_getaffinity fills the zeroed set it is given, of the size given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, size, &mut set) != 0 {
            return 0;
        }
        (0..libc::CPU_SETSIZE as usize)
            .find(|&c| libc::CPU_ISSET(c, &set))
            .unwrap_or(0)
    }
}

fn executor(name: &str) -> LocalExecutor {
    LocalExecutorBuilder::new(Placement::Fixed(first_allowed_cpu()))
        .name(name)
        .preempt_timer(PREEMPT)
        .make()
        .expect("executor")
}

/// Sleeps on short timers for `span`.
async fn naps(span: Duration) {
    let until = Instant::now() + span;
    while Instant::now() < until {
        glommio::timer::sleep(BUSY_NAP).await;
    }
}

async fn ping_cycles(req_tx: SharedSender<u64>, rep_rx: SharedReceiver<u64>) -> Cycles {
    let req_tx = req_tx.connect().await;
    let rep_rx = rep_rx.connect().await;
    let nap = Rc::new(Cell::new(BUSY_NAP));
    let fired = Rc::new(Cell::new(0u64));
    let running = Rc::new(Cell::new(true));
    let napper = glommio::spawn_local({
        let (nap, fired, running) = (nap.clone(), fired.clone(), running.clone());
        async move {
            while running.get() {
                glommio::timer::sleep(nap.get()).await;
                fired.set(fired.get() + 1);
            }
        }
    });
    let mut cycles = Cycles {
        done: 0,
        waited_for_timer: 0,
    };
    for n in 0..CYCLES {
        nap.set(BUSY_NAP);
        glommio::timer::sleep(PINGER_BUSY_FOR).await;
        nap.set(SLOW_NAP);
        let before = fired.get();
        if req_tx.send(n).await.is_err() || rep_rx.recv().await != Some(n) {
            break;
        }
        // The short sleep in flight when the ping went may end during it; a second firing
        // is a slow sleep that ended before the reply came.
        if fired.get() - before >= 2 {
            cycles.waited_for_timer += 1;
        }
        cycles.done += 1;
    }
    drop(req_tx);
    running.set(false);
    napper.await;
    cycles
}
