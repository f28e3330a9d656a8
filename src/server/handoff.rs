//! The owner writes the answer: a connection whose read came down to one request another
//! shard owns hands that shard the socket with the request, and the owner writes the
//! answer itself. The asking shard is not woken for a reply, which halves the wake-ups a
//! hop costs at one request in flight per connection. A read whose remote requests all
//! belong to one shard goes the same way whole, local answers included (a pipelined
//! client); its owner writes at most [`WHOLE_LIMIT`] bytes and leaves the rest to the
//! asker. The [`Handoff`] slot is how the two shards agree on when the socket is
//! the asker's again.

use crate::protocol::binary;
use crate::protocol::meta;
use crate::protocol::op::{MetaCmd, Outcome};
use crate::protocol::text::render as text;
use crate::stats::Tally;
use std::cell::Cell;
use std::ops::Range;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Bytes the owner of a whole read writes before it leaves the rest to the asker: one
/// turn of its loop stays short however much a pipeline asks for, and the asker's rounds,
/// bounded per batch, take over.
pub const WHOLE_LIMIT: usize = 256 << 10;

/// Capacity the slot's buffers for a whole read keep between handoffs: a pipeline of small
/// answers needs them every read; big local answers are not kept for an idle connection.
const WHOLE_KEEP: usize = 16 << 10;

/// How the owner words a request's answer. What the answer repeats of its request (its
/// echo: a meta request's key, then its flag tokens; a binary getk's key) waits in the
/// slot's echo, or for a read handed off whole at its [`Piece::Answer`]'s range of the
/// slot's `local`.
#[derive(Clone, Copy, Debug)]
pub enum Wording {
    Text(text::Reply),
    Meta {
        cmd: MetaCmd,
        flags: meta::Flags,
        /// The key's length at the start of the echo; the tokens follow it.
        key_len: usize,
    },
    /// A binary reply header; the echo is the key a getk's answer repeats (else empty).
    Binary(binary::Reply),
}

/// How the owner words the answer, in the asking connection's protocol.
#[derive(Clone, Copy, Debug)]
pub enum Render {
    Words(Wording),
    /// A read handed off whole: the answer is the slot's [`Piece`]s.
    Whole,
}

/// One answer of a read handed off whole ([`Handoff::start_whole`]): bytes the asker made
/// (in the slot's `local`), or the owner's next op, worded as it says with its echo at the
/// range of `local`.
#[derive(Clone, Debug)]
pub enum Piece {
    Local(Range<usize>),
    Answer(Wording, Range<usize>),
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
        drop(slot.start(echo, tail));
        Direct {
            slot: slot.clone(),
            fd: to.0,
            render: to.1,
            tally: Tally::default(),
            start: glommio::timer::lap_now(),
            ended: Cell::new(false),
        }
    }

    /// The asker gives the socket `fd` away with its whole read: see
    /// [`Handoff::start_whole`] for `fill`.
    pub fn start_whole(
        slot: &Arc<Handoff>,
        fd: RawFd,
        fill: impl FnOnce(&mut Vec<u8>, &mut Vec<Piece>),
    ) -> Self {
        slot.start_whole(fill);
        Direct {
            slot: slot.clone(),
            fd,
            render: Render::Whole,
            tally: Tally::default(),
            start: glommio::timer::lap_now(),
            ended: Cell::new(false),
        }
    }

    /// The owner words `outcome` into `out`.
    pub fn render(&self, out: &mut Vec<u8>, outcome: &Outcome<'_>) {
        self.slot.render(out, Some(outcome), self.render);
    }

    /// The asker handed its read off whole: the owner answers with [`Direct::answer_whole`].
    pub fn is_whole(&self) -> bool {
        matches!(self.render, Render::Whole)
    }

    /// The owner words a whole read's answer into `out`: the asker's bytes as they are,
    /// and for each remote op `run` runs the batch's next op and hands its outcome to the
    /// function it is given, which words it (`None`: no op was left to run). Past
    /// `budget` bytes it writes what it has before it runs more, and it stops if the socket
    /// is full or [`WHOLE_LIMIT`] bytes are written: the rest is the asker's, as
    /// [`Direct::stop`] leaves it. Returns the bytes written so far, and whether it stopped.
    pub fn answer_whole(
        &self,
        out: &mut Vec<u8>,
        budget: usize,
        mut run: impl FnMut(&mut dyn FnMut(Option<&Outcome<'_>>)),
    ) -> (usize, bool) {
        // Taken out of the slot so that no lock is held while the ops run.
        let (local, pieces) = {
            let mut i = self.slot.lock();
            (std::mem::take(&mut i.local), std::mem::take(&mut i.pieces))
        };
        let (mut sent, mut stopped_at) = (0, None);
        for (n, p) in pieces.iter().enumerate() {
            match p {
                Piece::Local(r) => out.extend_from_slice(&local[r.clone()]),
                Piece::Answer(how, echo) => {
                    if out.len() >= budget {
                        let now = send_now(self.fd, out);
                        sent += now;
                        out.drain(..now);
                        if !out.is_empty() || sent >= WHOLE_LIMIT {
                            stopped_at = Some(n);
                            break;
                        }
                    }
                    run(&mut |o| word(out, o, *how, &local[echo.clone()]));
                }
            }
        }
        let mut i = self.slot.lock();
        i.local = local;
        i.pieces = pieces;
        match stopped_at {
            Some(n) => drop(i.pieces.drain(..n)),
            None => i.forget_whole(),
        }
        (sent, stopped_at.is_some())
    }

    /// The owner of a whole read stopped ([`Direct::answer_whole`]): the asker writes
    /// `out` (what the socket did not take), then asks for the rest itself, the `left` ops
    /// (encoded in `ops`) that the slot's remaining pieces answer, and records the read's
    /// latency once all of it is written.
    pub fn stop(&self, out: &[u8], ops: &[u8], left: usize) {
        self.ended.set(true);
        let waker = {
            let mut i = self.slot.lock();
            i.bytes.clear();
            i.bytes.extend_from_slice(out);
            i.echo.clear();
            i.echo.extend_from_slice(ops);
            i.left = (left, self.tally, self.start);
            i.state = State::Partial;
            i.waiting.take()
        };
        wake_asker(waker);
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
    /// The owner of a whole read stopped ([`Direct::stop`]): the asker writes
    /// [`Done::rest`], then runs the rest of the read ([`Done::left`]) as a plan of its own.
    Partial,
}

/// What the asker finds once the owner is done.
pub struct Done {
    pub state: State,
    /// Bytes the asker must write before anything else of this connection's.
    pub rest: Vec<u8>,
    /// What a stopped owner of a whole read left to run ([`State::Partial`]).
    pub left: Option<Rest>,
}

impl Done {
    /// The answer is still in flight until the asker has written its part: call
    /// [`written_by_asker`] once it has.
    pub fn owes(&self) -> bool {
        self.state != State::Written || !self.rest.is_empty()
    }
}

/// The rest of a whole read whose owner stopped ([`State::Partial`]): the ops it did not
/// run, encoded back to back, and the answers still to write in order, a
/// [`Piece::Answer`] for each of those ops; with the read's requests and start, for its
/// latency.
pub struct Rest {
    pub ops: Vec<u8>,
    pub len: usize,
    pub local: Vec<u8>,
    pub pieces: Vec<Piece>,
    pub tally: Tally,
    pub start: Instant,
}

struct Inner {
    state: State,
    /// Bytes that follow the answer (a get's `END`), then what the socket did not take.
    bytes: Vec<u8>,
    /// What the answer repeats of the request (see [`Render`]).
    echo: Vec<u8>,
    /// A read handed off whole: its answers in order, and the bytes of its local ones and
    /// of its meta answers' echoes.
    pieces: Vec<Piece>,
    local: Vec<u8>,
    /// How many ops a stopped owner left unrun (`echo` holds them, encoded), and the
    /// read's requests and start.
    left: (usize, Tally, Instant),
    waiting: Option<Waker>,
    /// False while the asker waits only for what needs it (bytes left to write, an owner
    /// that never ran it): an answer written whole then wakes nobody.
    wake_always: bool,
}

impl Inner {
    /// A whole read is answered: its buffers are emptied, and let go if grown big.
    fn forget_whole(&mut self) {
        self.local.clear();
        self.pieces.clear();
        if self.local.capacity() > WHOLE_KEEP {
            self.local = Vec::new();
        }
        if self.pieces.capacity() * std::mem::size_of::<Piece>() > WHOLE_KEEP {
            self.pieces = Vec::new();
        }
    }

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
                pieces: Vec::new(),
                local: Vec::new(),
                left: (0, Tally::default(), Instant::now()),
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
    /// Returns the slot still locked, for a whole read's answers.
    fn start(&self, echo: &[u8], tail: &[u8]) -> std::sync::MutexGuard<'_, Inner> {
        let mut i = self.lock();
        debug_assert_eq!(i.state, State::Idle);
        i.state = State::Pending;
        i.bytes.clear();
        i.bytes.extend_from_slice(tail);
        i.echo.clear();
        i.echo.extend_from_slice(echo);
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        i
    }

    /// The asker gives the socket away with its read's answers, which `fill` writes: the
    /// bytes of local ones into the first buffer, one [`Piece`] per answer into the second.
    pub fn start_whole(&self, fill: impl FnOnce(&mut Vec<u8>, &mut Vec<Piece>)) {
        let mut i = self.start(b"", b"");
        let i = &mut *i;
        i.local.clear();
        i.pieces.clear();
        fill(&mut i.local, &mut i.pieces);
    }

    /// Words `outcome` (`None`: an owner that never answered) as `how` says; a whole
    /// read's answer (only ever unanswered here) as its pieces say.
    pub fn render(&self, out: &mut Vec<u8>, outcome: Option<&Outcome<'_>>, how: Render) {
        match how {
            Render::Whole => {
                let mut i = self.lock();
                for p in &i.pieces {
                    match p {
                        Piece::Local(r) => out.extend_from_slice(&i.local[r.clone()]),
                        Piece::Answer(how, echo) => {
                            word(out, outcome, *how, &i.local[echo.clone()])
                        }
                    }
                }
                i.forget_whole();
            }
            // No echo, so no lock.
            Render::Words(Wording::Text(r)) => text::outcome(out, outcome, r),
            Render::Words(how) => word(out, outcome, how, &self.lock().echo),
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
    /// for the asker to write (what the socket did not take, the whole answer of an owner
    /// that never ran it, or the rest of a whole read). An answer written whole never
    /// makes it ready.
    pub fn poll_left(&self, cx: &Context<'_>) -> Poll<()> {
        let mut i = self.lock();
        match i.state {
            State::Pending => {
                i.wait(cx, false);
                Poll::Pending
            }
            State::Written if i.bytes.is_empty() => Poll::Pending,
            State::Idle => Poll::Pending,
            State::Written | State::NotRun | State::Partial => Poll::Ready(()),
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
            State::Partial => {
                let rest = std::mem::take(&mut i.bytes);
                let i = &mut *i;
                i.state = State::Idle;
                let (len, tally, start) = i.left;
                let left = Rest {
                    ops: std::mem::take(&mut i.echo),
                    len,
                    local: std::mem::take(&mut i.local),
                    pieces: std::mem::take(&mut i.pieces),
                    tally,
                    start,
                };
                Poll::Ready(Some(Done {
                    state: State::Partial,
                    rest,
                    left: Some(left),
                }))
            }
            state => {
                // The slot keeps its buffer for the next handoff unless it holds bytes.
                let rest = match i.bytes.is_empty() {
                    true => Vec::new(),
                    false => std::mem::take(&mut i.bytes),
                };
                let done = Done {
                    state,
                    rest,
                    left: None,
                };
                i.state = State::Idle;
                Poll::Ready(Some(done))
            }
        }
    }
}

/// A meta answer's echo as its key (the first `key_len` bytes) and its flag tokens.
pub fn split_echo(echo: &[u8], key_len: usize) -> (&[u8], &[u8]) {
    echo.split_at(key_len.min(echo.len()))
}

/// Words `outcome` as `how` says, with `echo` what the answer repeats of the request (see
/// [`Wording`]).
fn word(out: &mut Vec<u8>, outcome: Option<&Outcome<'_>>, how: Wording, echo: &[u8]) {
    match how {
        Wording::Text(r) => text::outcome(out, outcome, r),
        Wording::Meta {
            cmd,
            flags,
            key_len,
        } => {
            let (key, tokens) = split_echo(echo, key_len);
            let echo = meta::render::Echo {
                cmd,
                flags: &flags,
                key,
                tokens,
            };
            meta::render::outcome(out, outcome, &echo);
        }
        Wording::Binary(reply) => binary::render::outcome(out, outcome, reply, echo),
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
#[path = "handoff_tests.rs"]
mod tests;
