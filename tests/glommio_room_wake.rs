//! Regression test for glommio patch 22 ("prompt room wake", vendor/glommio/PATCHES.md): a
//! receiver that makes room in a full channel wakes the sender waiting for it at once, where
//! patch 15 would let the receiver sleep on that wake until its own timer.
//!
//! The executors of `common::wake_cycles` run on two different CPUs, so patch 20 does not
//! apply. Plain pings show that the setup reaches patch 15's hold. In the room cycles every
//! message is sent through `prompt_wake`, and the echo must wait for room in its one-slot
//! reply channel: the wake of the pinger's receive, which makes that room, is the one wake
//! the round trip waits on that is not a prompt send's.
//! Needs two CPUs it may use, and a kernel with `IORING_OP_MSG_RING` (5.18).

mod common;
use common::wake_cycles::{self, CYCLES, Ping, SLOW_NAP};

#[test]
fn a_sender_waiting_for_room_is_woken_when_the_room_is_made() {
    let Some((pinger, echo)) = wake_cycles::two_cpus_that_hold() else {
        return;
    };
    let room = wake_cycles::run(pinger, echo, Ping::Room);
    assert_eq!(room.done, CYCLES);
    assert!(
        room.waited_for_timer <= CYCLES / 4,
        "{} of {CYCLES} round trips lasted until the pinger's own {SLOW_NAP:?} timer: the wake \
         of the echo waiting for room was held",
        room.waited_for_timer
    );
}
