//! Regression test for glommio patch 21 ("prompt wake", vendor/glommio/PATCHES.md): a send
//! through `glommio::channels::prompt_wake` wakes its sleeping receiver at once, where patch
//! 15 would let the sender sleep on that wake until its own timer, also when an earlier plain
//! send already took the receiver's wake and holds it.
//!
//! The executors of `common::wake_cycles` run on two different CPUs, so patch 20 does not
//! apply. Plain pings show that the setup reaches patch 15's hold: most round trips last
//! until the pinger's slow timer. Prompt pings must not, nor prompt pings that follow a plain
//! message whose wake the pinger holds. Needs two CPUs it may use, and a kernel with
//! `IORING_OP_MSG_RING` (5.18), without which nothing is held.

mod common;
use common::wake_cycles::{self, CYCLES, Ping, SLOW_NAP};

#[test]
fn a_prompt_send_is_not_held_behind_the_senders_timer() {
    let Some((pinger, echo)) = wake_cycles::two_cpus_that_hold() else {
        return;
    };
    for ping in [Ping::Prompt, Ping::PromptAfterHeld] {
        let cycles = wake_cycles::run(pinger, echo, ping);
        assert_eq!(cycles.done, CYCLES);
        assert!(
            cycles.waited_for_timer <= CYCLES / 4,
            "{ping:?}: {} of {CYCLES} round trips lasted until the pinger's own {SLOW_NAP:?} \
             timer: the prompt send was held",
            cycles.waited_for_timer
        );
    }
}
