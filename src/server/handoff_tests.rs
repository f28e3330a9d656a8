//! The handoff slot's states: written whole, left to the asker, never run, a whole read.

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
    drop(slot.start(b"", b"END\r\n"));
    assert_eq!(slot.lock().state, State::Pending);
    assert!(slot.poll_done(&cx).is_pending());
    let mut answer = b"VALUE k 0 1\r\nv\r\n".to_vec();
    assert_eq!(slot.finish(a.as_raw_fd(), &mut answer), 21);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    let done = done(&slot);
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
    drop(slot.start(b"", b""));
    assert!(slot.poll_left(&cx).is_pending());
    slot.finish(a.as_raw_fd(), &mut b"STORED\r\n".to_vec());
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
    assert!(slot.poll_left(&cx).is_pending());
    assert!(matches!(slot.poll_done(&cx), Poll::Ready(Some(_))));

    drop(slot.start(b"", b"END\r\n"));
    assert!(slot.poll_left(&cx).is_pending());
    slot.finish(a.as_raw_fd(), &mut vec![b'x'; 8 << 20]);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(slot.poll_left(&cx).is_ready());
}

#[test]
fn what_a_full_socket_does_not_take_goes_back_to_the_asker() {
    let (a, _b) = UnixStream::pair().unwrap();
    let slot = Handoff::default();
    drop(slot.start(b"", b"END\r\n"));
    let mut answer = vec![b'x'; 8 << 20];
    let sent = slot.finish(a.as_raw_fd(), &mut answer);
    assert!(sent < answer.len());
    let done = done(&slot);
    assert_eq!(sent + done.rest.len(), (8 << 20) + 5);
    assert!(done.rest.ends_with(b"xEND\r\n"));
}

/// A whole read of `touch a 0`, a local `STORED`, `touch b 0`: its slot, and the owner's
/// side.
fn whole(slot: &Arc<Handoff>, fd: RawFd) -> Direct {
    Direct::start_whole(slot, fd, |local, pieces| {
        local.extend_from_slice(b"STORED\r\n");
        let plain = Wording::Text(text::Reply::PLAIN);
        pieces.push(Piece::Answer(plain, 8..8));
        pieces.push(Piece::Local(0..8));
        pieces.push(Piece::Answer(plain, 8..8));
    })
}

fn done(slot: &Handoff) -> Done {
    let waker = Waker::from(Arc::new(Count::default()));
    match slot.poll_done(&Context::from_waker(&waker)) {
        Poll::Ready(Some(done)) => done,
        _ => panic!("not done"),
    }
}

#[test]
fn the_owner_of_a_whole_read_writes_its_answers_between_the_askers() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let slot = Arc::new(Handoff::default());
    let to = whole(&slot, a.as_raw_fd());
    assert!(to.is_whole());
    let mut out = Vec::new();
    let mut hit = true;
    let (sent, stopped) = to.answer_whole(&mut out, 1 << 16, |word| {
        word(Some(&Outcome::Touched(hit)));
        hit = false;
    });
    assert_eq!((sent, stopped), (0, false));
    assert_eq!(to.finish(&mut out), 28);
    assert_eq!(
        (done(&slot).state, slot.lock().state),
        (State::Written, State::Idle)
    );
    let mut got = [0u8; 28];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"TOUCHED\r\nSTORED\r\nNOT_FOUND\r\n");
}

#[test]
fn an_owner_that_meets_a_full_socket_leaves_the_rest_of_a_whole_read() {
    let (a, _b) = UnixStream::pair().unwrap();
    let slot = Arc::new(Handoff::default());
    let to = whole(&slot, a.as_raw_fd());
    // The asker waits for its client's next request, which only the rest can bring.
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    assert!(slot.poll_left(&Context::from_waker(&waker)).is_pending());
    let mut out = Vec::new();
    // The first answer alone is more than the socket takes.
    let big = vec![b'v'; 8 << 20];
    let (sent, stopped) = to.answer_whole(&mut out, 1 << 16, |word| {
        word(Some(&Outcome::Lines {
            text: &big,
            resume: None,
        }))
    });
    assert!(stopped);
    // It stopped before the second answer, with the local one between them written.
    assert!(sent > 0 && sent + out.len() == (8 << 20) + 8, "{sent}");
    assert!(out.ends_with(b"vSTORED\r\n"));
    to.stop(&out, b"encoded op", 1);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(slot.poll_left(&Context::from_waker(&waker)).is_ready());
    let done = done(&slot);
    assert_eq!(
        (done.state, done.rest.len(), done.owes()),
        (State::Partial, out.len(), true)
    );
    let left = done.left.expect("the rest of the read");
    assert_eq!((&left.ops[..], left.len), (&b"encoded op"[..], 1));
    let plain = |r: &Wording| matches!(r, Wording::Text(t) if *t == text::Reply::PLAIN);
    assert!(
        matches!(&left.pieces[..], [Piece::Answer(r, e)] if plain(r) && e.is_empty()),
        "{:?}",
        left.pieces
    );
    written_by_asker();
}

#[test]
fn a_whole_read_its_owner_never_ran_is_answered_by_the_asker() {
    let slot = Arc::new(Handoff::default());
    drop(whole(&slot, -1));
    let done = done(&slot);
    assert_eq!(done.state, State::NotRun);
    let mut out = Vec::new();
    slot.render(&mut out, None, Render::Whole);
    let lost = "SERVER_ERROR shard unavailable\r\n";
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{lost}STORED\r\n{lost}")
    );
    written_by_asker();
}

#[test]
fn an_owner_that_never_ran_it_leaves_the_tail_to_the_asker() {
    let slot = Handoff::default();
    drop(slot.start(b"", b"END\r\n"));
    slot.not_run();
    let done = done(&slot);
    assert_eq!(
        (done.state, &done.rest[..]),
        (State::NotRun, &b"END\r\n"[..])
    );
}
