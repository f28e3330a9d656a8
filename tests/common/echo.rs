//! The echo side of the runtime tests that play ping-pong between two glommio executors
//! over shared channels (what the shard mesh is built on).

use glommio::channels::shared_channel::{SharedReceiver, SharedSender};
use std::future::Future;

/// Sends back every number it receives until either channel closes; returns how many.
pub async fn echo_loop(req_rx: SharedReceiver<u64>, rep_tx: SharedSender<u64>) -> u64 {
    echo_then(req_rx, rep_tx, || async {}).await
}

/// As `echo_loop`, running `after` once each reply has gone, before the next receive.
pub async fn echo_then<F, Fut>(
    req_rx: SharedReceiver<u64>,
    rep_tx: SharedSender<u64>,
    mut after: F,
) -> u64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let req_rx = req_rx.connect().await;
    let rep_tx = rep_tx.connect().await;
    let mut echoed = 0;
    while let Some(x) = req_rx.recv().await {
        if rep_tx.send(x).await.is_err() {
            break;
        }
        echoed += 1;
        after().await;
    }
    echoed
}
