//! Regression test for glommio patch 23 ("peers first", vendor/glommio/PATCHES.md): an
//! executor woken from its sleep runs what a peer sent it before what its own I/O brought,
//! as every lap that does not sleep does. Without the patch the task a socket woke ran
//! first: the completions were read as the sleep ended, the channels only in the next lap.
//!
//! Each round the sleeper waits on a channel and on a socket at once; while it sleeps a
//! second executor sends on the channel and then writes to the socket, so both are there
//! whatever wakes the sleeper. The tasks log the order in which they ran.

use std::cell::RefCell;
use std::io::Write;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::channels::shared_channel;
use glommio::net::UnixStream;
use glommio::{LocalExecutorBuilder, Placement};

const ROUNDS: usize = 10;
/// Long enough for the sleeper to have gone to sleep on both waits before the sender acts
/// (it has nothing else to do); if it were still awake, both orders would be the lap's,
/// and the test could only pass.
const LET_IT_SLEEP: Duration = Duration::from_millis(30);

#[test]
fn a_woken_executor_runs_its_peers_message_before_its_own_input() {
    let (sock, mut peer_end) = std::os::unix::net::UnixStream::pair().unwrap();
    let (msg_tx, msg_rx) = shared_channel::new_bounded::<usize>(ROUNDS);
    let (ready_tx, ready_rx) = mpsc::channel::<()>();

    let sender = thread::spawn(move || {
        LocalExecutorBuilder::new(Placement::Unbound)
            .name("peers-first-sender")
            .make()
            .unwrap()
            .run(async move {
                let msg_tx = msg_tx.connect().await;
                for round in 0..ROUNDS {
                    ready_rx.recv().unwrap();
                    thread::sleep(LET_IT_SLEEP);
                    msg_tx.try_send(round).unwrap();
                    peer_end.write_all(&[round as u8]).unwrap();
                }
            })
    });

    let orders = LocalExecutorBuilder::new(Placement::Unbound)
        .name("peers-first-sleeper")
        .make()
        .unwrap()
        .run(async move {
            let msg_rx = Rc::new(msg_rx.connect().await);
            // SAFETY: a connected socket handed over whole.
            let mut sock = unsafe { UnixStream::from_raw_fd(sock.into_raw_fd()) };
            let mut orders = Vec::new();
            for _ in 0..ROUNDS {
                let log = Rc::new(RefCell::new(Vec::new()));
                let (l, rx) = (log.clone(), msg_rx.clone());
                let from_peer = glommio::spawn_local(async move {
                    rx.recv().await.unwrap();
                    l.borrow_mut().push("peer");
                });
                let l = log.clone();
                // The socket goes to the task and comes back with its end.
                let from_socket = glommio::spawn_local(async move {
                    let mut byte = [0u8; 1];
                    sock.read_exact(&mut byte).await.unwrap();
                    l.borrow_mut().push("socket");
                    sock
                });
                ready_tx.send(()).unwrap();
                from_peer.await;
                sock = from_socket.await;
                orders.push(log.borrow().clone());
            }
            orders
        });
    sender.join().unwrap();

    let socket_first = orders.iter().filter(|o| o[0] == "socket").count();
    eprintln!("orders: {orders:?}");
    assert_eq!(
        socket_first, 0,
        "in {socket_first} of {ROUNDS} rounds the socket's task ran before the peer's message"
    );
}
