//! The echo side of the runtime tests that play ping-pong between two glommio executors
//! over shared channels (what the shard mesh is built on).

use glommio::channels::shared_channel::{SharedReceiver, SharedSender};

/// Sends back every number it receives until either channel closes; returns how many.
pub async fn echo_loop(req_rx: SharedReceiver<u64>, rep_tx: SharedSender<u64>) -> u64 {
    let req_rx = req_rx.connect().await;
    let rep_tx = rep_tx.connect().await;
    let mut echoed = 0;
    while let Some(x) = req_rx.recv().await {
        if rep_tx.send(x).await.is_err() {
            break;
        }
        echoed += 1;
    }
    echoed
}
