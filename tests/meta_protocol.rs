//! The meta protocol against Debian's memcached 1.6.18: one script of meta requests (every
//! flag, quiet mode, every error text, anti-stampede flows) goes to both servers, each
//! request followed by a sentinel miss, and the replies must match line for line. Volatile fields are
//! compared loosely: CAS values (`c`, `cas=`), idle times (`l`, `la=`), slab class and
//! item size in `me` (our classes differ), and TTLs (`t`, `exp=`) within one second (a TTL
//! already past prints as a wrapped unsigned number in both, of different sizes). Runs
//! against corecached with 1 and with 4 shards. Missing memcached skips (fails under CI).

mod common;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Client, Rng, Server, eventually, start_memcached};

/// The script; `{p}` is a per-run key prefix, `{b}` that prefix plus "bin" in base64.
const SCRIPT: &[&str] = &[
    // mg return flags, on hit and miss.
    "ms {p}a 2 T0 F5\r\nhi\r\n",
    "mg {p}a s v t c f h l k O123",
    "mg {p}a v q",
    "mg {p}miss q k",
    "mg {p}miss k O1",
    "mg {p}miss v",
    "mg {p}miss",
    "mg {p}a",
    "mg {p}a h u",
    "mg {p}a h",
    "mg {p}a P L v",
    "mg {p}a k q O9 v",
    // TTLs in request order: t before T shows the old one.
    "mg {p}a t T100",
    "mg {p}a t",
    "mg {p}a T200 t",
    "mg {p}a t T200 t",
    "mg {p}a T-1",
    "mg {p}a v",
    // Errors, byte for byte.
    "mg",
    "mg {p}a E5",
    "mg {p}a x",
    "mg {p}a v v",
    "mg {p}a Tx",
    "mg {p}a N",
    "mg {p}a Rz",
    "mg {p}a O123456789012345678901234567890123",
    "mg {p}a O1234567890123456789012345678901",
    "mg {p}a s s s s s s s s s s s s s s s s s s s",
    "mg {p}a k v c f s t h l O1 q u P L T9 N9 R9 b",
    "mg {p}a k v c f s t h l O1 q u P L T9 N9 R9",
    "mg 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890",
    "mz {p}a",
    "mz",
    // ms modes, flags and results.
    "ms {p}s 3 T0 F7 k c O5\r\nabc\r\n",
    "mg {p}s f v",
    "ms {p}s 1 ME\r\nx\r\n",
    "ms {p}new 1 ME q\r\nx\r\n",
    "ms {p}s 2 MA\r\nde\r\n",
    "ms {p}s 2 MP\r\nzz\r\n",
    "mg {p}s v f",
    "ms {p}none 1 MA\r\nx\r\n",
    "ms {p}none 1 MP k\r\nx\r\n",
    "ms {p}none 1 MR O1\r\nx\r\n",
    "ms {p}s 1 MR\r\ny\r\n",
    "ms {p}s 1 MS\r\nq\r\n",
    "ms {p}s 1 C1\r\nq\r\n",
    "ms {p}s 1 C0\r\nq\r\n",
    "ms {p}nocas 1 C5\r\nq\r\n",
    "ms {p}s 1 MA C99\r\nq\r\n",
    "ms {p}s 1 N30 MA\r\nq\r\n",
    "mg {p}s v",
    "ms {p}q 1 q\r\nq\r\n",
    "ms {p}q 1 q ME\r\nq\r\n",
    "ms {p}s 1 MX\r\nq\r\n",
    "ms {p}s 1 MXX\r\nq\r\n",
    "ms {p}s 1 S1\r\nq\r\n",
    "ms {p}s 1 Fx\r\nq\r\n",
    "ms {p}s 1 O123456789012345678901234567890123\r\nq\r\n",
    "ms {p}s 1 k k\r\nq\r\n",
    "ms {p}s x\r\nq\r\n",
    "ms {p}s -1\r\nq\r\n",
    "ms {p}s\r\nq\r\n",
    "ms {p}s 2\r\nabcd\r\n",
    "ms {p}t 2 T100 I\r\nab\r\n",
    "mg {p}t t v",
    // md.
    "md {p}s q",
    "md {p}s q",
    "md {p}s k O7",
    "ms {p}d 1\r\nd\r\n",
    "md {p}d C1",
    "md {p}d x",
    "md {p}d E1",
    "md {p}d O123456789012345678901234567890123",
    "md {p}d T30 I k",
    "mg {p}d v t",
    "md {p}d",
    "mg {p}d",
    // ma.
    "ma {p}n",
    "ma {p}n q",
    "ma {p}n O3 k",
    "ma {p}n N0 J5 v",
    "ma {p}n v t",
    "ma {p}n D10 v",
    "ma {p}n MD D3 v",
    "ma {p}n M- D100 v",
    "ma {p}n M+ v",
    "ma {p}n MI D2 q",
    "ma {p}n v",
    "ma {p}n MD q v",
    "ma {p}n C1 v",
    "ma {p}n T50 t v",
    "ma {p}n t T60 v",
    "ma {p}n2 N0 J7 q v",
    "ma {p}n3 N90 t J1 v",
    "ma {p}n4 t N90 J1 v",
    "ma {p}a v",
    "ma {p}n Mx",
    "ma {p}n Mxx",
    "ma {p}n Dx",
    "ma {p}n Jx",
    "ma {p}n v v",
    "ma {p}n k k",
    "ma {p}n E1",
    "ma",
    // Anti-stampede: vivify, win, Z, stale, recache.
    "mg {p}v N30 t v c",
    "mg {p}v N30 t v c",
    "mg {p}v t v",
    "ms {p}v 3 T30\r\nnew\r\n",
    "mg {p}v v t",
    "mg {p}v R60 v",
    "mg {p}v R60 v",
    "mg {p}v R10 v",
    "ms {p}r 1 T100\r\nr\r\n",
    "mg {p}r T10 R30 v",
    "ms {p}r2 1 T100\r\nr\r\n",
    "mg {p}r2 R30 T10 v",
    "mg {p}r2 R30 v",
    "ms {p}st 3 T100\r\nold\r\n",
    "md {p}st I T30",
    "mg {p}st v t",
    "mg {p}st v t",
    "ms {p}st 3 C1 I\r\nnew\r\n",
    "mg {p}st v",
    "ms {p}st 3\r\nnxt\r\n",
    "mg {p}st v",
    "md {p}st I",
    "md {p}st I q",
    "mg {p}st v",
    "mg {p}vv N30 k v",
    "mg {p}vv v N30",
    // Base64 keys.
    "ms {b} 3 b k\r\nbin\r\n",
    "mg {b} b k v",
    "mg {b} k v",
    "mg {b}= b",
    "mg *** b",
    "md {b} b k q",
    "md {b} b k",
    "ma {b} b k N0 v",
    // me.
    "ms {p}me 2 T100\r\nme\r\n",
    "me {p}me",
    "me {p}nothere",
    "me",
    "me {b} b",
    "me *** b",
    // Pipelines: quiet misses and hits spanning shards end with mn.
    "mg {p}q1 q v\r\nmg {p}q2 q v\r\nmg {p}a q v\r\nmg {p}q3 q v k\r\nmg {p}s q v\r\nmn",
    "ms {p}p1 1 q\r\n1\r\nms {p}p2 1 q\r\n2\r\nms {p}p3 1 q MR\r\n3\r\nmg {p}p1 v q\r\nmg {p}p2 v\r\nmd {p}p1 q\r\nmd {p}p9 q",
    "mn",
    "mn x y",
];

fn fill(req: &str, p: &str) -> String {
    let b = STANDARD.encode(format!("{p}bin"));
    let mut s = req.replace("{p}", p).replace("{b}", &b);
    if !s.ends_with("\r\n") {
        s.push_str("\r\n");
    }
    s
}

/// The request after each one, and the reply that marks the end of its answers (an `MN`
/// could be a scripted `mn`'s, so the sentinel is a miss that echoes its key).
const SENTINEL: &str = "mg __end__ k\r\n";
const SENTINEL_REPLY: &str = "EN k__end__\r\n";

/// Sends `req` (its last CRLF optional) then the sentinel, returns the replies before the sentinel's.
fn exchange(c: &mut Client, req: &str) -> String {
    let crlf = if req.ends_with("\r\n") { "" } else { "\r\n" };
    c.send(format!("{req}{crlf}{SENTINEL}").as_bytes());
    let got = String::from_utf8_lossy(&c.read_until(SENTINEL_REPLY.as_bytes())).into_owned();
    got[..got.len() - SENTINEL_REPLY.len()].to_string()
}

/// Whether two reply tokens agree, given which fields are each server's own.
fn token_matches(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let num = |s: &str, pre: &str| s.strip_prefix(pre).and_then(|n| n.parse::<i64>().ok());
    for pre in ["c", "l", "cas=", "la=", "cls=", "size="] {
        if num(a, pre).is_some() && num(b, pre).is_some() {
            return true;
        }
    }
    for pre in ["t", "exp="] {
        if let (Some(x), Some(y)) = (num(a, pre), num(b, pre)) {
            // A TTL already past (T-1) prints as a huge unsigned number that depends on
            // memcached's uptime: any two such agree.
            return (x - y).abs() <= 1 || (x >= 1 << 31 && y >= 1 << 31);
        }
    }
    false
}

fn lines_match(a: &str, b: &str) -> bool {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.split("\r\n").collect(), b.split("\r\n").collect());
    la.len() == lb.len()
        && la.iter().zip(&lb).all(|(x, y)| {
            let meta = ["VA", "HD", "EN", "NS", "EX", "NF", "ME"]
                .iter()
                .any(|s| x.starts_with(s));
            if !meta {
                return x == y;
            }
            let (tx, ty): (Vec<&str>, Vec<&str>) = (x.split(' ').collect(), y.split(' ').collect());
            tx.len() == ty.len() && tx.iter().zip(&ty).all(|(p, q)| token_matches(p, q))
        })
}

fn run_script(ours: &Server, mport: u16, prefix: &str) -> Vec<String> {
    let mut us = ours.client();
    let mut them = Client::connect(mport);
    let mut diffs = Vec::new();
    for req in SCRIPT {
        let req = fill(req, prefix);
        let (a, b) = (exchange(&mut them, &req), exchange(&mut us, &req));
        if !lines_match(&a, &b) {
            diffs.push(format!("{req:?}\n  memcached:  {a:?}\n  corecached: {b:?}"));
        }
    }
    diffs
}

#[test]
fn meta_answers_match_memcached() {
    let Some((_memcached, mport)) = start_memcached() else {
        return;
    };
    for (i, t) in ["1", "4"].iter().enumerate() {
        let ours = Server::start(&["-t", t]);
        let diffs = run_script(&ours, mport, &format!("r{i}_"));
        assert!(
            diffs.is_empty(),
            "-t {t}: {} diffs:\n{}",
            diffs.len(),
            diffs.join("\n")
        );
    }
}

/// The counters a meta stream moves, next to memcached's after the same stream.
const COUNTED: &[&str] = &[
    "cmd_get",
    "cmd_set",
    "cmd_touch",
    "cmd_meta",
    "get_hits",
    "get_misses",
    "touch_hits",
    "touch_misses",
    "delete_hits",
    "delete_misses",
    "incr_hits",
    "incr_misses",
    "decr_hits",
    "decr_misses",
    "cas_hits",
    "cas_badval",
    "cas_misses",
];

/// Meta requests count where memcached counts them: mg as gets (or touches under T), ms
/// as sets (CAS ones as cas), md as deletes, ma as incr/decr, and only me as cmd_meta.
#[test]
fn meta_requests_are_counted_as_memcached_counts_them() {
    let Some((_memcached, mport)) = start_memcached() else {
        return;
    };
    let ours = Server::start(&["-t", "4"]);
    let stream = [
        "ms k 1\r\nx\r\n",
        "mg k v",
        "mg nope v",
        "mg k T30",
        "mg nope T30",
        "mg k q u",
        "ms k 1 C999\r\ny\r\n",
        "ms gone 1 C1\r\ny\r\n",
        "ms k 1 ME\r\nz\r\n",
        "md k",
        "md k",
        "ma n",
        "ma n N0 J1",
        "ma n",
        "ma n MD",
        "me n",
        "me nope",
        "mn",
        "mg v N30",
    ];
    let mut counts = Vec::new();
    for port in [mport, ours.port] {
        let mut c = Client::connect(port);
        let before = c.stats("");
        for req in stream {
            exchange(&mut c, req);
        }
        let after = c.stats("");
        let n = |k: &str| after[k].parse::<u64>().unwrap() - before[k].parse::<u64>().unwrap();
        counts.push(
            COUNTED
                .iter()
                .map(|k| format!("{k}={}", n(k)))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        counts[0], counts[1],
        "memcached (left) vs corecached (right)"
    );
}

/// A replicating node on `port`, accepting its twin on `repl`, its twin at `twin`.
fn twin_node(port: u16, repl: u16, twin: u16) -> Server {
    let (x, t) = (repl.to_string(), format!("127.0.0.1:{twin}"));
    let args = ["-t", "2", "-X", &x, "--twin", &t];
    // A restart right after a kill can meet the old process's last connections.
    for _ in 0..20 {
        if let Ok(s) = Server::try_start_on(port, &args) {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Server::start_on(port, &args)
}

/// The anti-stampede state belongs to the item: a won token and a stale mark made on A
/// give the same Z/X/W answers on B, over the live stream and again after B restarts empty
/// and is filled by a full copy.
#[test]
fn anti_stampede_state_reaches_the_twin_and_survives_a_full_resync() {
    let (ra, rb, pa, pb) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let a = twin_node(pa, ra, rb);
    let mut b = twin_node(pb, rb, ra);
    let mut ca = a.client();
    assert_eq!(exchange(&mut ca, "ms won 1 T100\r\nw\r\n"), "HD\r\n");
    assert_eq!(exchange(&mut ca, "mg won R200 v"), "VA 1 W\r\nw\r\n");
    assert_eq!(exchange(&mut ca, "ms st 3 T100\r\nold\r\n"), "HD\r\n");
    assert_eq!(exchange(&mut ca, "md st I"), "HD\r\n");
    let mut cb = b.client();
    assert!(
        eventually(10, || exchange(&mut cb, "mg st v u")
            == "VA 3 X W\r\nold\r\n"),
        "B never saw the stale mark"
    );
    assert_eq!(exchange(&mut cb, "mg won R200 v"), "VA 1 Z\r\nw\r\n");
    // B's win on the stale item travels back: A hands out no second token.
    assert!(eventually(10, || exchange(&mut ca, "mg st v") == "VA 3 Z X\r\nold\r\n"));

    drop(cb);
    b.kill9();
    let b = twin_node(pb, rb, ra);
    let mut cb = b.client();
    assert!(
        eventually(20, || exchange(&mut cb, "mg st v") == "VA 3 Z X\r\nold\r\n"),
        "the full copy lost the stale item's state: {:?}",
        exchange(&mut cb, "mg st v")
    );
    assert_eq!(exchange(&mut cb, "mg won R200 v"), "VA 1 Z\r\nw\r\n");
    assert_eq!(exchange(&mut cb, "mg fresh N30 v"), "VA 0 W\r\n\r\n");
}

/// Some of `flags` in a random order; now and then one repeated, or one memcached lacks.
fn some_flags(rng: &mut Rng, flags: &[&str]) -> String {
    let mut out: Vec<String> = flags
        .iter()
        .filter(|_| rng.below(3) == 0)
        .map(|f| f.to_string())
        .collect();
    for i in (1..out.len()).rev() {
        out.swap(i, rng.below(i + 1));
    }
    match rng.below(25) {
        0 if !out.is_empty() => out.push(out[0].clone()),
        1 => out.push(
            rng.pick(&[
                "E1",
                "x",
                "S3",
                "Tx",
                "Mzz",
                "O123456789012345678901234567890123",
            ])
            .into(),
        ),
        _ => {}
    }
    out.iter().map(|f| format!(" {f}")).collect()
}

/// One random meta request over a few keys: valid and malformed flags in any order.
fn random_request(rng: &mut Rng, p: &str) -> String {
    let key = format!("{p}{}", rng.pick(&["a", "b", "c", "n"]));
    match rng.below(9) {
        0..=2 => {
            let f = some_flags(
                rng,
                &[
                    "s", "v", "t", "c", "f", "h", "k", "O7", "q", "u", "T30", "T-1", "N20", "R40",
                    "P", "L",
                ],
            );
            format!("mg {key}{f}\r\n")
        }
        3..=4 => {
            let v = rng.pick(&["", "v", "12", "hello", "18446744073709551615"]);
            let f = some_flags(
                rng,
                &[
                    "T50", "F3", "C1", "C0", "I", "q", "k", "O1", "c", "MS", "ME", "MA", "MP",
                    "MR", "N9",
                ],
            );
            format!("ms {key} {}{f}\r\n{v}\r\n", v.len())
        }
        5 => format!(
            "md {key}{}\r\n",
            some_flags(rng, &["q", "C1", "I", "T40", "k", "O2"])
        ),
        6..=7 => {
            let f = some_flags(
                rng,
                &[
                    "N0", "N30", "J5", "D3", "MD", "MI", "q", "t", "c", "v", "k", "O3", "C1", "T20",
                ],
            );
            format!("ma {key}{f}\r\n")
        }
        _ => format!(
            "{}\r\n",
            rng.pick(&["mn", "me ", "mg", "mx a"])
                .replace("me ", &format!("me {key}"))
        ),
    }
}

/// Seeded random meta streams give the same answers as memcached (`META_SEEDS=N` runs N).
#[test]
fn random_meta_streams_match_memcached() {
    let Some((_memcached, mport)) = start_memcached() else {
        return;
    };
    let ours = Server::start(&["-t", "2"]);
    let seeds: u64 = std::env::var("META_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let (mut us, mut them) = (ours.client(), Client::connect(mport));
    let mut diffs = Vec::new();
    for seed in 1..=seeds {
        let mut rng = Rng::seeded(seed);
        let p = format!("s{seed}_");
        let mut history = Vec::new();
        for _ in 0..120 {
            let req = random_request(&mut rng, &p);
            let (a, b) = (exchange(&mut them, &req), exchange(&mut us, &req));
            history.push(req.clone());
            if !lines_match(&a, &b) {
                let before = history
                    .iter()
                    .rev()
                    .skip(1)
                    .take(8)
                    .rev()
                    .cloned()
                    .collect::<Vec<_>>();
                diffs.push(format!("seed {seed}, after {before:?}:\n{req:?}\n  memcached:  {a:?}\n  corecached: {b:?}"));
                break;
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {seeds} streams diverged:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
