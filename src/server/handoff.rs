//! The owner writes the answer: a connection whose read came down to one request another
//! shard owns hands that shard the socket with the request, and the owner writes the
//! answer itself. The asking shard is not woken for a reply, which halves the wake-ups a
//! hop costs at one request in flight per connection. The [`Handoff`] slot is how the two
//! shards agree on when the socket is the asker's again.

use crate::protocol::binary;
use crate::protocol::meta;
use crate::protocol::op::{MetaCmd, Outcome};
use crate::protocol::text::render as text;
use crate::stats::Tally;
use std::cell::Cell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// How the owner words the answer, in the asking connection's protocol. What the answer
/// repeats of the request (a meta request's key and flag tokens, a getk's key) waits in
/// the slot's echo.
#[derive(Clone, Copy, Debug)]
pub enum Render {
    Text(text::Reply),
    Meta {
        cmd: MetaCmd,
        flags: meta::Flags,
        /// The key's length at the start of the slot's echo; the tokens follow it.
        key_len: usize,
    },
    /// A binary request's reply header; a getk's key is the slot's echo.
    Binary {
        reply: binary::Reply,
        key_len: usize,
    },
}

/// What travels with a handed-off request: the socket, the slot, and how to render.
pub struct Direct {
    slot: Arc<Handoff>,
    pub fd: RawFd,
    render: Render,
    /// The asking connection's requests of this batch by family, and when the batch began:
    /// the owner records their latency once it has written the answer.
    pub tally: Tally,
    pub start: Instant,
    /// Set once the owner has written (or given up): a request dropped unrun (an owner
    /// that stopped, a channel that closed) releases the asker when it is dropped.
    ended: Cell<bool>,
}

impl Direct {
    /// The asker gives the socket `fd` away: `echo` is what the answer repeats of the
    /// request (see [`Render`]), `tail` what must follow the answer.
    pub fn start(slot: &Arc<Handoff>, to: (RawFd, Render), echo: &[u8], tail: &[u8]) -> Self {
        slot.start(echo, tail);
        Direct {
            slot: slot.clone(),
            fd: to.0,
            render: to.1,
            tally: Tally::default(),
            start: glommio::timer::lap_now(),
            ended: Cell::new(false),
        }
    }

    /// The owner words `outcome` into `out`.
    pub fn render(&self, out: &mut Vec<u8>, outcome: &Outcome<'_>) {
        self.slot.render(out, Some(outcome), self.render);
    }

    /// The owner writes `answer` (then the tail) to the socket; returns the bytes written.
    pub fn finish(&self, answer: &mut Vec<u8>) -> usize {
        self.ended.set(true);
        self.slot.finish(self.fd, answer)
    }
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Direct(fd {}, {:?})", self.fd, self.render)
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        if !self.ended.get() {
            self.slot.not_run();
        }
    }
}

/// Handed-off answers not yet written whole, over the whole node: by the owner, or by the
/// asker when the owner left it bytes ([`Done::owes`]). A stopping node waits for them
/// (within its drain time) before its shards exit, so no answer is cut short and no owner
/// holds a socket that closed.
pub static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// The asker wrote (or failed to write) what an owner left it.
pub fn written_by_asker() {
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// No handoff, or its end has been seen by the asker.
    Idle,
    /// The owner has the socket.
    Pending,
    /// The owner ran the request and wrote what the socket took; the asker writes
    /// [`Done::rest`] before anything else.
    Written,
    /// The owner never ran it (it had stopped): the asker answers as for a shard that did
    /// not reply, then writes [`Done::rest`] (the bytes that were to follow the answer).
    NotRun,
}

/// What the asker finds once the owner is done.
pub struct Done {
    pub state: State,
    /// Bytes the asker must write before anything else of this connection's.
    pub rest: Vec<u8>,
}

impl Done {
    /// The answer is still in flight until the asker has written its part: call
    /// [`written_by_asker`] once it has.
    pub fn owes(&self) -> bool {
        self.state == State::NotRun || !self.rest.is_empty()
    }
}

struct Inner {
    state: State,
    /// Bytes that follow the answer (a get's `END`), then what the socket did not take.
    bytes: Vec<u8>,
    /// What the answer repeats of the request (see [`Render`]).
    echo: Vec<u8>,
    waiting: Option<Waker>,
    /// False while the asker waits only for what needs it (bytes left to write, an owner
    /// that never ran it): an answer written whole then wakes nobody.
    wake_always: bool,
}

impl Inner {
    fn wait(&mut self, cx: &Context<'_>, always: bool) {
        match &self.waiting {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.waiting = Some(cx.waker().clone()),
        }
        self.wake_always = always;
    }
}

/// One connection's handoff slot, shared by its shard and the owner of the request.
pub struct Handoff {
    inner: Mutex<Inner>,
}

impl Default for Handoff {
    fn default() -> Self {
        Handoff {
            inner: Mutex::new(Inner {
                state: State::Idle,
                bytes: Vec::new(),
                echo: Vec::new(),
                waiting: None,
                wake_always: false,
            }),
        }
    }
}

impl Handoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing panics while holding it; a poisoned slot still holds consistent data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The asker gives the socket away (see [`Direct::start`]).
    fn start(&self, echo: &[u8], tail: &[u8]) {
        let mut i = self.lock();
        debug_assert_eq!(i.state, State::Idle);
        i.state = State::Pending;
        i.bytes.clear();
        i.bytes.extend_from_slice(tail);
        i.echo.clear();
        i.echo.extend_from_slice(echo);
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    }

    /// Words `outcome` (`None`: an owner that never answered) as `how` says.
    pub fn render(&self, out: &mut Vec<u8>, outcome: Option<&Outcome<'_>>, how: Render) {
        match how {
            Render::Text(r) => text::outcome(out, outcome, r),
            Render::Meta {
                cmd,
                flags,
                key_len,
            } => {
                let i = self.lock();
                let (key, tokens) = i.echo.split_at(key_len.min(i.echo.len()));
                let echo = meta::render::Echo {
                    cmd,
                    flags: &flags,
                    key,
                    tokens,
                };
                meta::render::outcome(out, outcome, &echo);
            }
            Render::Binary { reply, key_len } => {
                let i = self.lock();
                let key = &i.echo[..key_len.min(i.echo.len())];
                binary::render::outcome(out, outcome, reply, key);
            }
        }
    }

    /// The owner: appends the tail to `answer`, writes it to `fd` without blocking, keeps
    /// what the socket did not take for the asker, and wakes it if it waits. Returns the
    /// bytes written.
    fn finish(&self, fd: RawFd, answer: &mut Vec<u8>) -> usize {
        answer.extend_from_slice(&self.lock().bytes);
        let sent = send_now(fd, answer);
        let waker = {
            let mut i = self.lock();
            i.bytes.clear();
            i.bytes.extend_from_slice(&answer[sent..]);
            i.state = State::Written;
            let left = !i.bytes.is_empty();
            if !left {
                IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
            }
            i.waiting.take().filter(|_| i.wake_always || left)
        };
        // What is left to write, or (waking always) the client's next request, which must
        // follow this answer.
        wake_asker(waker);
        sent
    }

    /// The owner could not be reached: the asker answers for it.
    fn not_run(&self) {
        let waker = {
            let mut i = self.lock();
            i.state = State::NotRun;
            i.waiting.take()
        };
        wake_asker(waker);
    }

    /// The asker, waiting for its client: ready once the owner is done and left something
    /// for the asker to write (what the socket did not take, or the whole answer of an
    /// owner that never ran it). An answer written whole never makes it ready.
    pub fn poll_left(&self, cx: &Context<'_>) -> Poll<()> {
        let mut i = self.lock();
        match i.state {
            State::Pending => {
                i.wait(cx, false);
                Poll::Pending
            }
            State::Written if i.bytes.is_empty() => Poll::Pending,
            State::Idle => Poll::Pending,
            State::Written | State::NotRun => Poll::Ready(()),
        }
    }

    /// The asker: ready once the owner is done, leaving the slot idle for the next handoff;
    /// until then `cx` is woken when it is.
    pub fn poll_done(&self, cx: &Context<'_>) -> Poll<Option<Done>> {
        let mut i = self.lock();
        match i.state {
            State::Idle => Poll::Ready(None),
            State::Pending => {
                i.wait(cx, true);
                Poll::Pending
            }
            state => {
                // The slot keeps its buffer for the next handoff unless it holds bytes.
                let rest = match i.bytes.is_empty() {
                    true => Vec::new(),
                    false => std::mem::take(&mut i.bytes),
                };
                let done = Done { state, rest };
                i.state = State::Idle;
                Poll::Ready(Some(done))
            }
        }
    }
}

/// Wakes an asker that waits on the owner: it holds bytes its client waits for, and no
/// socket of its own will wake it, so the wake is never held (glommio patch 21).
fn wake_asker(waker: Option<Waker>) {
    if let Some(w) = waker {
        glommio::channels::prompt(|| w.wake());
    }
}

/// Writes what the socket takes now: `send` with MSG_DONTWAIT, retried on EINTR; returns
/// the bytes sent before the socket was full or failed (the asker's own write of the rest
/// then waits, or meets the error and reports it).
fn send_now(fd: RawFd, buf: &[u8]) -> usize {
    let mut sent = 0;
    while sent < buf.len() {
        let rest = &buf[sent..];
        // SAFETY: `fd` is the asker's open socket: the asker closes it only after
        // `poll_done` has seen this handoff end, and `rest` is a live buffer.
        let n = unsafe {
            libc::send(
                fd,
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n > 0 {
            sent += n as usize;
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            break;
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_owner_writes_answer_and_tail_and_wakes_a_waiting_asker() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let slot = Handoff::default();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let cx = Context::from_waker(&waker);
        assert!(matches!(slot.poll_done(&cx), Poll::Ready(None)));
        slot.start(b"", b"END\r\n");
        assert_eq!(slot.lock().state, State::Pending);
        assert!(slot.poll_done(&cx).is_pending());
        let mut answer = b"VALUE k 0 1\r\nv\r\n".to_vec();
        assert_eq!(slot.finish(a.as_raw_fd(), &mut answer), 21);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let Poll::Ready(Some(done)) = slot.poll_done(&cx) else {
            panic!("not done")
        };
        assert_eq!((done.state, done.rest.len()), (State::Written, 0));
        assert_eq!(slot.lock().state, State::Idle);
        let mut got = [0u8; 21];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"VALUE k 0 1\r\nv\r\nEND\r\n");
    }

    #[test]
    fn an_asker_waiting_for_its_client_is_woken_only_for_bytes_left() {
        let (a, _b) = UnixStream::pair().unwrap();
        let slot = Handoff::default();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let cx = Context::from_waker(&waker);
        slot.start(b"", b"");
        assert!(slot.poll_left(&cx).is_pending());
        slot.finish(a.as_raw_fd(), &mut b"STORED\r\n".to_vec());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert!(slot.poll_left(&cx).is_pending());
        assert!(matches!(slot.poll_done(&cx), Poll::Ready(Some(_))));

        slot.start(b"", b"END\r\n");
        assert!(slot.poll_left(&cx).is_pending());
        slot.finish(a.as_raw_fd(), &mut vec![b'x'; 8 << 20]);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(slot.poll_left(&cx).is_ready());
    }

    #[test]
    fn what_a_full_socket_does_not_take_goes_back_to_the_asker() {
        let (a, _b) = UnixStream::pair().unwrap();
        let slot = Handoff::default();
        slot.start(b"", b"END\r\n");
        let mut answer = vec![b'x'; 8 << 20];
        let sent = slot.finish(a.as_raw_fd(), &mut answer);
        assert!(sent < answer.len());
        let waker = Waker::from(Arc::new(Count::default()));
        let Poll::Ready(Some(done)) = slot.poll_done(&Context::from_waker(&waker)) else {
            panic!("not done")
        };
        assert_eq!(sent + done.rest.len(), (8 << 20) + 5);
        assert!(done.rest.ends_with(b"xEND\r\n"));
    }

    #[test]
    fn an_owner_that_never_ran_it_leaves_the_tail_to_the_asker() {
        let slot = Handoff::default();
        slot.start(b"", b"END\r\n");
        slot.not_run();
        let waker = Waker::from(Arc::new(Count::default()));
        let Poll::Ready(Some(done)) = slot.poll_done(&Context::from_waker(&waker)) else {
            panic!("not done")
        };
        assert_eq!(
            (done.state, &done.rest[..]),
            (State::NotRun, &b"END\r\n"[..])
        );
    }
}
