//! Regression test for the park bug patched in vendor/glommio (PATCHES.md, "park"): an executor
//! must not go to sleep while one of its task queues is still runnable.
//!
//! Two executors play ping-pong over glommio shared channels (what the shard mesh is built on).
//! The echo side runs with a short preemption timer, so a completion on its latency ring often
//! lands between `poll_io` and `run_task_queues`: the same kind of event as a cross-shard eventfd
//! wake. Unpatched, the echo executor then parks with the echo task runnable, and as nothing else
//! will wake it, the round trip never ends. The pinger bounds every round trip with its own timer,
//! so the test fails in about a second instead of hanging.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::{LocalExecutorBuilder, Placement};

mod common;
use common::echo::echo_loop;

/// Long enough that only a parked executor explains it (a loaded 2-core host shows tens of ms).
const STALL: Duration = Duration::from_secs(1);
/// Unpatched 0.9.0 stalls within a few hundred round trips here; patched, this runs out.
const RUN_FOR: Duration = Duration::from_secs(3);
/// Short enough that the timer often fires right after `poll_io` arms it, long enough that a
/// patched executor still runs tasks between timer firings.
const ECHO_PREEMPT: Duration = Duration::from_micros(50);

#[derive(Debug)]
struct Pings {
    round_trips: u64,
    worst: Duration,
    stalled: bool,
}

#[test]
fn an_executor_with_runnable_tasks_does_not_park() {
    let (req_tx, req_rx) = shared_channel::new_bounded::<u64>(1);
    let (rep_tx, rep_rx) = shared_channel::new_bounded::<u64>(1);
    let (echo_done_tx, echo_done) = mpsc::channel();
    let (pings_tx, pings) = mpsc::channel();

    let echo = thread::spawn(move || {
        let ex = LocalExecutorBuilder::new(Placement::Unbound)
            .name("park-echo")
            .preempt_timer(ECHO_PREEMPT)
            .make()
            .expect("echo executor");
        let echoed = ex.run(echo_loop(req_rx, rep_tx));
        let _ = echo_done_tx.send(echoed);
    });
    let pinger = thread::spawn(move || {
        let ex = LocalExecutorBuilder::new(Placement::Unbound)
            .name("park-pinger")
            .make()
            .expect("pinger executor");
        let _ = pings_tx.send(ex.run(ping_loop(req_tx, rep_rx)));
    });

    // The pinger's own timer bounds each round trip; this only guards against a hung pinger.
    let pings = pings
        .recv_timeout(RUN_FOR + STALL + Duration::from_secs(5))
        .expect("the pinger itself hung");
    eprintln!("{pings:?}");
    assert!(
        !pings.stalled,
        "a round trip took over {STALL:?} after {} good ones: the echo executor parked with a \
         runnable task",
        pings.round_trips
    );
    assert!(pings.round_trips > 0, "no round trip completed");
    // The pinger has dropped its ends, so the echo loop ends; a parked echo executor would not.
    echo_done
        .recv_timeout(STALL)
        .expect("the echo executor did not finish after its peer left");
    pinger.join().unwrap();
    echo.join().unwrap();
}

async fn ping_loop(req_tx: SharedSender<u64>, rep_rx: SharedReceiver<u64>) -> Pings {
    let req_tx = req_tx.connect().await;
    let rep_rx = rep_rx.connect().await;
    let start = Instant::now();
    let mut pings = Pings {
        round_trips: 0,
        worst: Duration::ZERO,
        stalled: false,
    };
    while start.elapsed() < RUN_FOR {
        let sent = Instant::now();
        let n = pings.round_trips;
        let round_trip = async {
            req_tx.send(n).await.ok()?;
            rep_rx.recv().await
        };
        let limit = async {
            glommio::timer::sleep(STALL).await;
            None
        };
        let reply = futures_lite::future::or(round_trip, limit).await;
        pings.worst = pings.worst.max(sent.elapsed());
        if reply != Some(n) {
            pings.stalled = true;
            break;
        }
        pings.round_trips += 1;
    }
    pings
}
