//! The ping-pong that the tests of glommio patches 20, 21 and 22 play between two executors,
//! in cycles. In each cycle both first sleep on short timers over and over, so each sees its
//! sleeps end by themselves, soon, and tells its peer it expects to wake by itself (patch
//! 15). Then the echo side waits for the next ping with nothing of its own to wake it, and the
//! pinger sends one as its own timer turns slow, due within patch 15's 5 ms bound (one short
//! sleep may still be in flight). A pinger that holds the wake it owes sleeps until that
//! timer fires. `run` counts the cycles in which it fired during the round trip: a count of
//! events, not a time limit. Wakes are held only on kernels with `IORING_OP_MSG_RING` (5.18).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use glommio::channels::prompt_wake;
use glommio::channels::shared_channel::{self, ConnectedSender, SharedReceiver, SharedSender};
use glommio::{LocalExecutor, LocalExecutorBuilder, Placement};

use super::echo::echo_then;

/// The short sleeps: well under patch 15's 100 µs, so each side expects its own wakes.
const BUSY_NAP: Duration = Duration::from_micros(20);
/// How long the echo side keeps its short sleeps up after each reply.
const ECHO_BUSY_FOR: Duration = Duration::from_millis(5);
/// How long the pinger keeps its own up: past the echo's, so the echo is waiting on the
/// channel alone when the ping comes.
const PINGER_BUSY_FOR: Duration = Duration::from_millis(8);
/// The pinger's timer during a round trip: longer than patch 15's 100 µs, within its 5 ms.
pub const SLOW_NAP: Duration = Duration::from_millis(4);
pub const CYCLES: u64 = 20;
/// glommio's default preemption timer (100 ms) would wake a sleeper in the end and hide a
/// wake never sent; the slow timer above is what should end a stall.
const PREEMPT: Duration = Duration::from_secs(30);

/// How the pinger sends each ping.
#[derive(Clone, Copy, Debug)]
pub enum Ping {
    Plain,
    /// Through `glommio::channels::prompt_wake` (patch 21).
    Prompt,
    /// A plain message on a second channel to the echo's executor first, whose wake the
    /// pinger holds, then the ping through `prompt_wake`.
    PromptAfterHeld,
    /// Through `prompt_wake`; the echo answers with a filler first, through `prompt_wake`
    /// too, and then waits for room in the one-slot reply channel to send the echo: the
    /// pinger's receive of the filler makes that room, and its wake (patch 22) is the one
    /// this cycle waits on.
    Room,
}

#[derive(Debug)]
pub struct Cycles {
    pub done: u64,
    /// Cycles whose round trip outlasted one of the pinger's slow sleeps.
    pub waited_for_timer: u64,
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Whether the kernel has `IORING_OP_MSG_RING` (5.18), without which no wake is held and
/// these cycles test nothing.
pub fn kernel_has_msg_ring() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (major, minor) >= (5, 18)
}

/// Two CPUs this process may use, once plain pings between them show that wakes are held
/// there (most round trips wait for the pinger's slow timer); `None`, said on stderr, when
/// the process has one CPU or the kernel holds no wakes.
pub fn two_cpus_that_hold() -> Option<(usize, usize)> {
    let cpus = allowed_cpus();
    let [pinger, echo, ..] = cpus[..] else {
        eprintln!("SKIPPED: needs two CPUs, this process may use {cpus:?}");
        return None;
    };
    if !kernel_has_msg_ring() {
        eprintln!("SKIPPED: a kernel before 5.18 holds no wakes");
        return None;
    }
    let plain = run(pinger, echo, Ping::Plain);
    assert!(
        plain.waited_for_timer > CYCLES / 4,
        "only {} of {CYCLES} plain round trips waited for the pinger's {SLOW_NAP:?} timer: the \
         setup no longer reaches patch 15's hold, so nothing else it plays tests anything",
        plain.waited_for_timer
    );
    Some((pinger, echo))
}

/// Plays the cycles with the pinger on `pinger_cpu` and the echo on `echo_cpu`.
pub fn run(pinger_cpu: usize, echo_cpu: usize, ping: Ping) -> Cycles {
    let (req_tx, req_rx) = shared_channel::new_bounded::<u64>(1);
    let (rep_tx, rep_rx) = shared_channel::new_bounded::<u64>(1);
    let (side_tx, side_rx) = shared_channel::new_bounded::<u64>(1);
    let (done_tx, done) = mpsc::channel();

    let echo = thread::spawn(move || {
        executor("cycles-echo", echo_cpu).run(async move {
            let drain = glommio::spawn_local(drain(side_rx)).detach();
            let echoed = match ping {
                Ping::Room => echo_after_filler(req_rx, rep_tx).await,
                _ => echo_then(req_rx, rep_tx, || naps(ECHO_BUSY_FOR)).await,
            };
            drain.await;
            echoed
        })
    });
    let pinger = thread::spawn(move || {
        let cycles =
            executor("cycles-pinger", pinger_cpu).run(ping_cycles(req_tx, rep_rx, side_tx, ping));
        let _ = done_tx.send(cycles);
    });

    let cycles = done
        .recv_timeout(Duration::from_secs(60))
        .expect("the pinger hung");
    eprintln!("{ping:?}, pinger on cpu {pinger_cpu}, echo on cpu {echo_cpu}: {cycles:?}");
    pinger.join().unwrap();
    assert_eq!(echo.join().unwrap(), cycles.done);
    cycles
}

fn executor(name: &str, cpu: usize) -> LocalExecutor {
    LocalExecutorBuilder::new(Placement::Fixed(cpu))
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

/// What the echo sends before each echo in [`Ping::Room`] cycles.
const FILLER: u64 = u64::MAX;

/// The echo side of [`Ping::Room`]: for each ping a filler, then the echo, which waits for
/// the pinger to take the filler; both sends are prompt, so of the wakes the round trip
/// waits on, only the room's could be held.
async fn echo_after_filler(req_rx: SharedReceiver<u64>, rep_tx: SharedSender<u64>) -> u64 {
    let req_rx = req_rx.connect().await;
    let rep_tx = rep_tx.connect().await;
    let mut echoed = 0;
    while let Some(x) = req_rx.recv().await {
        let sent = prompt_wake(rep_tx.send(FILLER)).await.is_ok()
            && prompt_wake(rep_tx.send(x)).await.is_ok();
        if !sent {
            break;
        }
        echoed += 1;
        naps(ECHO_BUSY_FOR).await;
    }
    echoed
}

async fn drain(side_rx: SharedReceiver<u64>) {
    let side_rx = side_rx.connect().await;
    while side_rx.recv().await.is_some() {}
}

async fn send_ping(
    req_tx: &ConnectedSender<u64>,
    side_tx: &ConnectedSender<u64>,
    n: u64,
    ping: Ping,
) -> bool {
    match ping {
        Ping::Plain => req_tx.send(n).await.is_ok(),
        Ping::Prompt | Ping::Room => prompt_wake(req_tx.send(n)).await.is_ok(),
        Ping::PromptAfterHeld => {
            side_tx.try_send(n).is_ok() && prompt_wake(req_tx.send(n)).await.is_ok()
        }
    }
}

async fn ping_cycles(
    req_tx: SharedSender<u64>,
    rep_rx: SharedReceiver<u64>,
    side_tx: SharedSender<u64>,
    ping: Ping,
) -> Cycles {
    let req_tx = req_tx.connect().await;
    let rep_rx = rep_rx.connect().await;
    let side_tx = side_tx.connect().await;
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
        if !send_ping(&req_tx, &side_tx, n, ping).await {
            break;
        }
        if matches!(ping, Ping::Room) && rep_rx.recv().await != Some(FILLER) {
            break;
        }
        if rep_rx.recv().await != Some(n) {
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
    drop(side_tx);
    running.set(false);
    napper.await;
    cycles
}
