//! Which shard serves a new client connection: the one with the fewest, the accepting shard
//! on a tie. The kernel spreads a port's connections over the shards' SO_REUSEPORT
//! listeners by a hash of their addresses, which leaves a client with few connections (a
//! proxy, a pipelining benchmark) lopsided: 8 connections over 2 shards split 6-2 or worse
//! 29 % of the time. memcached deals its connections to its worker threads in turn; this
//! balances as well, and again after connections close.

use crate::config::ListenTls;
use glommio::net::{AcceptedTcpStream, AcceptedUnixStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

/// An accepted connection on its way to the shard that will serve it.
pub enum Moved {
    Tcp(AcceptedTcpStream, ListenTls),
    Unix(AcceptedUnixStream),
}

/// Each shard's client connections, and its inbox of connections other shards accepted for
/// it.
pub struct Spread {
    shards: Box<[Place]>,
}

#[derive(Default)]
struct Place {
    /// Connections served here or on their way (counted when placed, so that accepts in
    /// quick succession see each other).
    live: AtomicUsize,
    inbox: Mutex<Inbox>,
}

#[derive(Default)]
struct Inbox {
    moved: Vec<Moved>,
    waiting: Option<Waker>,
}

impl Spread {
    pub fn new(shards: usize) -> Self {
        Spread {
            shards: (0..shards).map(|_| Place::default()).collect(),
        }
    }

    /// Picks the shard that serves a connection shard `me` accepted, and counts it there.
    pub fn choose(&self, me: usize) -> usize {
        let live = |i: usize| self.shards[i].live.load(Ordering::Relaxed);
        loop {
            let mut best = me;
            for i in 0..self.shards.len() {
                if live(i) < live(best) {
                    best = i;
                }
            }
            // Counted only if no other shard placed one there since it was read, so two
            // shards accepting at once do not both pick the same emptiest shard.
            let seen = live(best);
            let place = &self.shards[best].live;
            if place
                .compare_exchange(seen, seen + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return best;
            }
        }
    }

    /// A connection [`Spread::choose`] placed on `shard` has ended (or was refused).
    pub fn left(&self, shard: usize) {
        self.shards[shard].live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Hands `conn` to shard `to`, waking it at once: the client may already have sent its
    /// first request, which nothing else would wake `to` for.
    pub fn send(&self, to: usize, conn: Moved) {
        let waker = {
            let mut inbox = lock(&self.shards[to].inbox);
            inbox.moved.push(conn);
            inbox.waiting.take()
        };
        if let Some(w) = waker {
            glommio::channels::prompt(|| w.wake());
        }
    }

    /// Shard `me`: the connections other shards placed here, once there are any.
    pub fn poll_take(&self, me: usize, cx: &Context<'_>) -> Poll<Vec<Moved>> {
        let mut inbox = lock(&self.shards[me].inbox);
        if inbox.moved.is_empty() {
            match &inbox.waiting {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => inbox.waiting = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        Poll::Ready(std::mem::take(&mut inbox.moved))
    }
}

fn lock(inbox: &Mutex<Inbox>) -> std::sync::MutexGuard<'_, Inbox> {
    // Nothing panics while holding it; a poisoned inbox still holds consistent data.
    inbox.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(s: &Spread) -> Vec<usize> {
        s.shards
            .iter()
            .map(|p| p.live.load(Ordering::Relaxed))
            .collect()
    }

    #[test]
    fn connections_accepted_on_one_shard_are_dealt_to_all() {
        let s = Spread::new(3);
        let placed: Vec<usize> = (0..6).map(|_| s.choose(1)).collect();
        assert_eq!(placed, [1, 0, 2, 1, 0, 2]);
        assert_eq!(live(&s), [2, 2, 2]);
    }

    #[test]
    fn the_accepting_shard_keeps_a_connection_on_a_tie() {
        let s = Spread::new(2);
        assert_eq!(s.choose(1), 1);
        assert_eq!(s.choose(0), 0);
        assert_eq!(s.choose(0), 0);
        assert_eq!(s.choose(0), 1);
    }

    #[test]
    fn a_shard_whose_connections_closed_gets_the_next_ones() {
        let s = Spread::new(2);
        for _ in 0..4 {
            s.choose(0);
        }
        s.left(1);
        s.left(1);
        assert_eq!(live(&s), [2, 0]);
        assert_eq!(s.choose(0), 1);
        assert_eq!(s.choose(0), 1);
        assert_eq!(s.choose(0), 0);
    }
}
