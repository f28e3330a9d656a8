//! Regression test for glommio patch 20 ("same-CPU wake", vendor/glommio/PATCHES.md): an
//! executor going to sleep wakes at once a peer on the same CPU that it owes a wake, even
//! when patch 15 would let it sleep on that wake until its own timer.
//!
//! Both executors of `common::wake_cycles` run on one CPU and the pings are plain sends.
//! Without patch 20 the pinger sleeps on the wake it owes until its slow timer fires, once
//! per cycle (18 of 20 cycles when this test was written); with it, the wake goes with the
//! pinger's sleep. Needs a kernel with `IORING_OP_MSG_RING` (5.18), without which nothing is
//! held.

mod common;
use common::wake_cycles::{self, CYCLES, Ping, SLOW_NAP};

#[test]
fn a_peer_on_the_same_cpu_is_woken_when_the_waker_sleeps() {
    if !wake_cycles::kernel_has_msg_ring() {
        eprintln!("SKIPPED: a kernel before 5.18 holds no wakes");
        return;
    }
    let cpu = wake_cycles::allowed_cpus().first().copied().unwrap_or(0);
    let cycles = wake_cycles::run(cpu, cpu, Ping::Plain);
    assert_eq!(cycles.done, CYCLES);
    assert!(
        cycles.waited_for_timer <= CYCLES / 4,
        "{} of {CYCLES} round trips lasted until the pinger's own {SLOW_NAP:?} timer: it slept \
         on the wake it owed a peer on its own CPU",
        cycles.waited_for_timer
    );
}
