//! The reply plan keeps request order across local and remote answers, and says what it
//! cannot answer.

use super::*;
use crate::protocol::op::Stored;
use crate::server::conn::meta::How;

/// Renders a remote outcome as `<how>:<outcome>` so the order is visible.
fn show(out: &mut Vec<u8>, o: Option<&Outcome<'_>>, how: char) {
    let text = match o {
        Some(Outcome::Stored {
            result: Stored::Stored,
            ..
        }) => "stored",
        Some(Outcome::Miss) => "miss",
        Some(_) => "other",
        None => "lost",
    };
    out.extend_from_slice(format!("{how}:{text};").as_bytes());
}

fn reply_from(shard: usize, outcomes: &[Outcome<'_>]) -> Reply {
    let mut r = Reply::new(7, shard, outcomes.len());
    for o in outcomes {
        r.push(o);
    }
    r
}

fn get(key: &[u8]) -> Op<'_> {
    Op::Get { key, touch: None }
}

#[test]
fn local_answers_go_straight_out_until_a_remote_one() {
    let mut p: Plan<char> = Plan::new(2, 64);
    p.local(|o| o.extend_from_slice(b"a;"));
    assert!(!p.waiting());
    assert_eq!(p.out, b"a;");
    p.remote(1, get(b"k"), 'x');
    p.local(|o| o.extend_from_slice(b"b;"));
    assert!(p.waiting());
    // The local answer after a remote one waits behind it.
    assert_eq!(p.out, b"a;");
}

#[test]
fn assembly_keeps_request_order_across_shards() {
    let mut p: Plan<char> = Plan::new(3, 64);
    p.remote(2, get(b"k1"), 'p');
    p.local(|o| o.extend_from_slice(b"L1;"));
    p.remote(1, get(b"k2"), 'q');
    p.remote(2, get(b"k3"), 'r');
    p.local(|o| o.extend_from_slice(b"L2;"));
    let (batches, n) = p.outgoing();
    assert_eq!(n, 3);
    assert_eq!(
        (batches[0].len(), batches[1].len(), batches[2].len()),
        (0, 1, 2)
    );
    let mut replies = vec![
        None,
        Some(reply_from(1, &[Outcome::Miss])),
        Some(reply_from(
            2,
            &[
                Outcome::Stored {
                    result: Stored::Stored,
                    cas: 1,
                },
                Outcome::Miss,
            ],
        )),
    ];
    p.assemble(&mut replies, show);
    assert_eq!(
        String::from_utf8(p.out.clone()).unwrap(),
        "p:stored;L1;q:miss;r:miss;L2;"
    );
    assert!(!p.waiting());
    // The next read starts clean: its local answers go straight out again.
    p.local(|o| o.extend_from_slice(b"next;"));
    assert!(p.out.ends_with(b"L2;next;"));
    assert_eq!(p.outgoing().1, 0);
}

#[test]
fn a_shard_that_never_answered_is_rendered_as_lost() {
    let mut p: Plan<char> = Plan::new(2, 16);
    p.remote(1, get(b"k"), 'z');
    p.local(|o| o.extend_from_slice(b"END;"));
    p.assemble(&mut [None, None], show);
    assert_eq!(p.out, b"z:lost;END;");
}

#[test]
fn a_short_reply_loses_only_the_missing_ops() {
    let mut p: Plan<char> = Plan::new(2, 16);
    p.remote(1, get(b"a"), 'a');
    p.remote(1, get(b"b"), 'b');
    p.assemble(&mut [None, Some(reply_from(1, &[Outcome::Miss]))], show);
    assert_eq!(p.out, b"a:miss;b:lost;");
}

#[test]
fn ops_an_owner_handed_back_wait_for_the_next_round_in_order() {
    let mut p: Plan<char> = Plan::new(3, 16);
    p.remote(1, get(b"a"), 'a');
    p.local(|o| o.extend_from_slice(b"L;"));
    p.remote(1, get(b"b"), 'b');
    p.remote(2, get(b"c"), 'c');
    p.local(|o| o.extend_from_slice(b"M;"));
    let (batches, n) = p.outgoing();
    assert_eq!(n, 3);
    // As sending does.
    batches.iter_mut().for_each(|b| drop(std::mem::take(b)));
    // Shard 1 stopped at its budget after "a" and handed "b" back; shard 2 answered all.
    let mut first = reply_from(1, &[Outcome::Miss]);
    first.rest.push(get(b"b"));
    let mut replies = vec![None, Some(first), Some(reply_from(2, &[Outcome::Miss]))];
    p.assemble(&mut replies, show);
    assert_eq!(p.out, b"a:miss;L;");
    assert!(p.waiting());
    p.out.clear();
    let (batches, n) = p.outgoing();
    assert_eq!((n, batches[1].len(), batches[2].len()), (1, 1, 0));
    let again = reply_from(
        1,
        &[Outcome::Stored {
            result: Stored::Stored,
            cas: 1,
        }],
    );
    p.assemble(&mut [None, Some(again), None], show);
    // c's answer came in the first round and kept its place behind b's.
    assert_eq!(p.out, b"b:stored;c:miss;M;");
    assert!(!p.waiting());
}

#[test]
fn held_bytes_count_what_waits_aside_and_shrink_gives_buffers_back() {
    let mut p: Plan<char> = Plan::new(2, 16);
    p.local(|o| o.extend_from_slice(&[b'x'; 100]));
    p.remote(1, get(b"k"), 'k');
    p.local(|o| o.extend_from_slice(&[b'y'; 50]));
    assert_eq!((p.held(), p.queued()), (150, 1));
    p.assemble(&mut [None, None], show);
    p.out = Vec::with_capacity(4096);
    p.shrink(1024);
    assert_eq!(p.out.capacity(), 0);
}

/// One depth-1 read with a remote key: what its plan holds once it went out and came back.
fn one_remote_read(shards: usize) -> Plan<char> {
    let mut p: Plan<char> = Plan::new(shards, 16);
    p.remote(1, get(b"k"), 'k');
    p.local(|o| o.extend_from_slice(b"END;"));
    let (batches, _) = p.outgoing();
    let sent: Vec<Batch> = batches.iter_mut().map(std::mem::take).collect();
    assert_eq!(sent[1].len(), 1);
    p.assemble(&mut (0..shards).map(|_| None).collect::<Vec<_>>(), show);
    assert!(!p.waiting());
    p.out.clear();
    p.shrink(0);
    p
}

#[test]
fn an_idle_plan_keeps_its_small_list_and_pools_the_rest() {
    let p = one_remote_read(64);
    assert!(p.segs.capacity() > 0, "the small list of pieces stays");
    let (side, batches) = (p.side.capacity(), p.batches.capacity());
    assert_eq!(
        (side, batches),
        (0, 0),
        "side and batches went to the pools"
    );
    // The next read takes them back rather than allocating.
    let list_at = BATCH_LISTS.with(|l| {
        let list = l.take();
        let at = list.as_ptr();
        l.give(list);
        at
    });
    let mut p = p;
    p.remote(5, get(b"j"), 'j');
    assert_eq!((p.batches.as_ptr(), p.batches.len()), (list_at, 64));
}

#[test]
fn only_a_read_whose_one_remote_answer_comes_first_can_be_handed_to_its_owner() {
    let mut p: Plan<char> = Plan::new(2, 64);
    p.remote(1, get(b"k"), 'g');
    p.local(|o| o.extend_from_slice(b"END;"));
    assert_eq!(p.lone_remote(), Some((1, 'g')));
    let mut tail = Vec::new();
    let batch = p.take_lone(1, |t| tail.extend_from_slice(t));
    assert_eq!((batch.len(), &tail[..]), (1, &b"END;"[..]));
    assert!(!p.waiting());
    assert_eq!(p.held(), 0);
    assert_eq!(p.queued(), 0);

    // A local answer already waiting to go out must be written first.
    let mut p: Plan<char> = Plan::new(2, 64);
    p.local(|o| o.extend_from_slice(b"a;"));
    p.remote(1, get(b"k"), 'g');
    assert_eq!(p.lone_remote(), None);
    // Two remote answers need assembling.
    let mut p: Plan<char> = Plan::new(3, 64);
    p.remote(1, get(b"k"), 'g');
    p.remote(2, get(b"j"), 'h');
    assert_eq!(p.lone_remote(), None);
    // Nothing remote at all.
    let p: Plan<char> = Plan::new(2, 64);
    assert_eq!(p.lone_remote(), None);
}

#[test]
fn a_read_whose_remote_answers_all_belong_to_one_shard_can_be_handed_off_whole() {
    let mut p: Plan<char> = Plan::new(3, 64);
    p.local(|o| o.extend_from_slice(b"a;"));
    p.remote(2, get(b"k"), 'g');
    p.local(|o| o.extend_from_slice(b"b;"));
    p.remote(2, get(b"j"), 'h');
    assert_eq!(p.sole_owner(), Some(2));
    let mut pieces = Vec::new();
    let batch = p.take_whole(2, |piece| {
        pieces.push(piece.map(|b| String::from_utf8(b.to_vec()).unwrap()))
    });
    let want = [Ok("a;".to_string()), Err('g'), Ok("b;".into()), Err('h')];
    assert_eq!(pieces, want);
    assert_eq!(batch.len(), 2);
    assert!(!p.waiting());
    assert_eq!((p.held(), p.queued()), (0, 0));

    // Remote answers from two shards need assembling here.
    let mut p: Plan<char> = Plan::new(3, 64);
    p.remote(1, get(b"k"), 'g');
    p.remote(2, get(b"j"), 'h');
    assert_eq!(p.sole_owner(), None);
    // Nothing remote at all.
    let p: Plan<char> = Plan::new(2, 64);
    assert_eq!(p.sole_owner(), None);
}

#[test]
fn the_rest_of_a_read_an_owner_left_is_assembled_in_order_here() {
    let mut p: Plan<char> = Plan::new(2, 64);
    let mut batch = Batch::default();
    batch.push(get(b"k"));
    batch.push(get(b"j"));
    let pieces = [Err('g'), Ok(&b"x;"[..]), Err('h'), Ok(&b"y;"[..])];
    p.resume(1, batch, pieces.into_iter());
    assert!(p.waiting());
    let (batches, ops) = p.outgoing();
    assert_eq!((batches[1].len(), ops), (2, 2));
    let mut replies = vec![None, Some(reply_from(1, &[Outcome::Miss, Outcome::Miss]))];
    p.assemble(&mut replies, show);
    assert_eq!(p.out, b"g:miss;x;h:miss;y;");
    assert!(!p.waiting());
}

#[test]
fn a_pipeline_of_16_gets_keeps_its_list_of_pieces_between_reads() {
    // The text front end's own plan, whose pieces' size is what the limit is about.
    let mut p: Plan<How> = Plan::new(2, 64);
    p.local(|o| o.extend_from_slice(b"first;"));
    for i in 0..16 {
        match i % 2 {
            0 => p.local(|o| o.extend_from_slice(b"VALUE;END;")),
            _ => {
                p.remote(1, get(b"k"), How::Text(crate::protocol::text::Reply::PLAIN));
                p.local(|o| o.extend_from_slice(b"END;"));
            }
        }
    }
    p.assemble(&mut [None, None], |out, _, _| out.extend_from_slice(b"?;"));
    assert!(!p.waiting());
    p.out.clear();
    p.shrink(0);
    let kept = p.segs.capacity();
    assert!(kept >= 24, "the list was let go ({kept} pieces kept)");
}
