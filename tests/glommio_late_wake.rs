//! Regression test for glommio patch 15 ("late wake", vendor/glommio/PATCHES.md): a peer that
//! delays its wake of a sleeper which expects its own I/O to wake it must still wake it, within
//! its bound, once that I/O stops.
//!
//! Two executors play ping-pong over glommio shared channels. First both run a task that sleeps
//! on a short timer over and over, so that each of them sees its sleeps end by themselves, soon,
//! and tells its peer it expects to wake by itself. Then the echo side's timer task stops: it
//! sleeps with nothing of its own to wake it, and only the pinger's owed wake can. The pinger
//! keeps a slower timer, so it sleeps with its wakes still owed and sends them when it wakes.
//! Every round trip is bounded by the pinger's own timer: a wake that is never sent fails the
//! test in about a second instead of hanging it.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::{LocalExecutorBuilder, Placement};

mod common;
use common::echo::echo_loop;

/// Long enough that only a wake never sent explains it (a loaded 2-core host shows tens of ms).
const STALL: Duration = Duration::from_secs(1);
/// Both sides' own short sleeps: well under the patch's 100 µs, so each expects its own wakes.
const BUSY_NAP: Duration = Duration::from_micros(20);
/// How long both stay busy before the echo side goes quiet.
const BUSY_FOR: Duration = Duration::from_millis(300);
/// Then the pinger's own timer: due within the patch's 5 ms bound, so it sleeps on owed wakes.
const QUIET_NAP: Duration = Duration::from_millis(1);
/// Round trips after the echo side has gone quiet.
const QUIET_ROUNDS: u64 = 300;
/// The echo side's preemption timer: glommio's default (100 ms) would wake it in the end even
/// if no wake came, and hide a wake never sent.
const ECHO_PREEMPT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Pings {
    busy_round_trips: u64,
    quiet_round_trips: u64,
    quiet_took: Duration,
    worst_quiet: Duration,
    stalled: bool,
}

#[test]
fn a_sleeper_that_expected_its_own_wake_is_still_woken_by_its_peer() {
    let (req_tx, req_rx) = shared_channel::new_bounded::<u64>(1);
    let (rep_tx, rep_rx) = shared_channel::new_bounded::<u64>(1);
    let (pings_tx, pings) = mpsc::channel();
    let echo_busy = Arc::new(AtomicBool::new(true));

    let busy = echo_busy.clone();
    let echo = thread::spawn(move || {
        let ex = LocalExecutorBuilder::new(Placement::Unbound)
            .name("late-echo")
            .preempt_timer(ECHO_PREEMPT)
            .make()
            .expect("echo executor");
        ex.run(async move {
            let napper = glommio::spawn_local(nap_while(busy, BUSY_NAP));
            let echoed = echo_loop(req_rx, rep_tx).await;
            napper.await;
            echoed
        })
    });
    let pinger = thread::spawn(move || {
        let ex = LocalExecutorBuilder::new(Placement::Unbound)
            .name("late-pinger")
            .make()
            .expect("pinger executor");
        let _ = pings_tx.send(ex.run(ping_loop(req_tx, rep_rx, echo_busy)));
    });

    let pings = pings
        .recv_timeout(BUSY_FOR + (STALL * 2) + Duration::from_secs(10))
        .expect("the pinger itself hung");
    eprintln!("{pings:?}");
    assert!(
        !pings.stalled,
        "a round trip took over {STALL:?} after {} busy and {} quiet ones: the pinger did not \
         send the wake it owed",
        pings.busy_round_trips, pings.quiet_round_trips
    );
    assert!(
        pings.busy_round_trips > 0,
        "no round trip while both were busy"
    );
    assert_eq!(pings.quiet_round_trips, QUIET_ROUNDS);
    pinger.join().unwrap();
    echo.join().unwrap();
}

/// Sleeps `nap` at a time until `go` turns false.
async fn nap_while(go: Arc<AtomicBool>, nap: Duration) {
    while go.load(Ordering::Relaxed) {
        glommio::timer::sleep(nap).await;
    }
}

async fn ping_loop(
    req_tx: SharedSender<u64>,
    rep_rx: SharedReceiver<u64>,
    echo_busy: Arc<AtomicBool>,
) -> Pings {
    let req_tx = req_tx.connect().await;
    let rep_rx = rep_rx.connect().await;
    let own_nap = Rc::new(Cell::new(BUSY_NAP));
    let running = Rc::new(Cell::new(true));
    let napper = glommio::spawn_local({
        let (own_nap, running) = (own_nap.clone(), running.clone());
        async move {
            while running.get() {
                glommio::timer::sleep(own_nap.get()).await;
            }
        }
    });
    let mut pings = Pings {
        busy_round_trips: 0,
        quiet_round_trips: 0,
        quiet_took: Duration::ZERO,
        worst_quiet: Duration::ZERO,
        stalled: false,
    };
    let start = Instant::now();
    let mut quiet_since = None;
    let mut n = 0;
    loop {
        let quiet = start.elapsed() >= BUSY_FOR;
        if quiet {
            let since = *quiet_since.get_or_insert_with(|| {
                echo_busy.store(false, Ordering::Relaxed);
                own_nap.set(QUIET_NAP);
                Instant::now()
            });
            pings.quiet_took = since.elapsed();
            if pings.quiet_round_trips == QUIET_ROUNDS {
                break;
            }
        }
        let sent = Instant::now();
        let round_trip = async {
            req_tx.send(n).await.ok()?;
            rep_rx.recv().await
        };
        let limit = async {
            glommio::timer::sleep(STALL).await;
            None
        };
        if futures_lite::future::or(round_trip, limit).await != Some(n) {
            pings.stalled = true;
            break;
        }
        n += 1;
        if quiet {
            pings.quiet_round_trips += 1;
            pings.worst_quiet = pings.worst_quiet.max(sent.elapsed());
        } else {
            pings.busy_round_trips += 1;
        }
    }
    echo_busy.store(false, Ordering::Relaxed);
    running.set(false);
    napper.await;
    pings
}
