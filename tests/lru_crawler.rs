//! `lru_crawler` against the real binary: a crawl frees the expired items of the classes it
//! was given and `stats` shows it running until every shard is done, the controls answer
//! as memcached 1.6.18 does (compared byte for byte with Debian's memcached when installed),
//! and a metadump refuses what memcached's refuses.

mod common;

use common::{Client, Server, each_shard_count, eventually, start_memcached};
use std::time::Duration;

/// Polls `stats` until no crawl runs; bounded, generously, so a stuck crawl fails the test.
fn wait_crawl_done(c: &mut Client) {
    for _ in 0..600 {
        if c.stats("")["lru_crawler_running"] == "0" {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the crawl never finished");
}

#[test]
fn crawl_frees_expired_items_of_the_classes_given() {
    each_shard_count(&[], |s| {
        let mut c = s.client();
        for i in 0..30 {
            assert_eq!(c.set(&format!("ifoo{i}"), b"ok"), "STORED\r\n");
            let req = format!("set sfoo{i} 0 1 2\r\nok\r\n");
            assert_eq!(c.call(req.as_bytes(), "\r\n"), "STORED\r\n");
        }
        // A bigger class, also dead, that a crawl of class 1 leaves alone.
        let big = vec![b'x'; 500];
        for i in 0..10 {
            let mut req = format!("set mfoo{i} 0 1 500\r\n").into_bytes();
            req.extend_from_slice(&big);
            req.extend_from_slice(b"\r\n");
            assert_eq!(c.call(&req, "\r\n"), "STORED\r\n");
        }
        // The background crawler (back on with `enable`) counts what it frees as a crawl
        // does, so the counts below hold whichever of them gets to an item first.
        assert_eq!(c.line("lru_crawler disable"), "OK\r\n");
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(
            c.line("lru_crawler crawl 1"),
            "CLIENT_ERROR lru crawler disabled\r\n"
        );
        assert_eq!(c.line("lru_crawler enable"), "OK\r\n");
        let starts: u64 = c.stats("")["lru_crawler_starts"].parse().unwrap();
        assert_eq!(c.line("lru_crawler crawl 1"), "OK\r\n");
        wait_crawl_done(&mut c);
        let st = c.stats("");
        assert_eq!(st["lru_crawler_starts"], (starts + 1).to_string());
        let items = c.stats("items");
        assert_eq!(items["items:1:crawler_reclaimed"], "30", "{items:?}");
        assert_eq!(c.stats("slabs")["1:used_chunks"], "30");
        let n: u64 = items["items:1:crawler_items_checked"].parse().unwrap();
        assert!(n >= 60, "{items:?}");
        assert!(c.get("ifoo7").is_some() && c.get("sfoo7").is_none());
        // Now every class: the big dead items go too.
        assert_eq!(c.line("lru_crawler crawl all"), "OK\r\n");
        wait_crawl_done(&mut c);
        let st = c.stats("");
        assert_eq!(st["curr_items"], "30", "{st:?}");
        assert_eq!(st["crawler_reclaimed"], "40", "{st:?}");
        assert_eq!(st["reclaimed"], "0", "{st:?}");
    });
}

/// A crawl paced at one step a second over more items than one step takes is running
/// when the next command arrives, whatever the machine's speed: a second crawl and a
/// metadump are BUSY; once paced at 0 it ends.
#[test]
fn a_running_crawl_makes_others_wait() {
    let s = Server::start(&["-t", "1"]);
    let mut c = s.client();
    let mut req = Vec::new();
    for i in 0..5000 {
        req.extend_from_slice(format!("set k{i} 0 0 1 noreply\r\nx\r\n").as_bytes());
    }
    c.send(&req);
    assert_eq!(c.line("version").split(' ').next(), Some("VERSION"));
    assert_eq!(c.line("lru_crawler sleep 1000000"), "OK\r\n");
    assert_eq!(c.line("lru_crawler crawl all"), "OK\r\n");
    assert_eq!(
        c.line("lru_crawler crawl 1"),
        "BUSY currently processing crawler request\r\n"
    );
    assert_eq!(
        c.line("lru_crawler metadump all"),
        "BUSY currently processing crawler request\r\n"
    );
    assert_eq!(c.stats("")["lru_crawler_running"], "1");
    assert_eq!(c.line("lru_crawler sleep 0"), "OK\r\n");
    wait_crawl_done(&mut c);
    // The background crawler checks items too.
    let checked: u64 = c.stats("items")["items:1:crawler_items_checked"]
        .parse()
        .unwrap();
    assert!(checked >= 5000, "{checked}");
    let dump = c.call(b"lru_crawler metadump all\r\n", "END\r\n");
    assert_eq!(dump.lines().count(), 5001);
}

/// Answers that do not depend on timing, sent to corecached and (when installed) to
/// memcached 1.6.18, one connection each, in this order.
const CONTROLS: &[&str] = &[
    "lru_crawler",
    "lru_crawler crawl",
    "lru_crawler crawl 0",
    "lru_crawler crawl 64",
    "lru_crawler crawl abc",
    "lru_crawler crawl -1",
    "lru_crawler crawl hash",
    "lru_crawler crawl 1 2",
    "lru_crawler metadump 0",
    "lru_crawler metadump",
    "lru_crawler metadump 1 2",
    "lru_crawler tocrawl x",
    "lru_crawler tocrawl -1",
    "lru_crawler tocrawl 10",
    "lru_crawler sleep 2000000",
    "lru_crawler sleep 50",
    "lru_crawler foo",
    "lru_crawler mgdump all",
    "lru_crawler enable",
    "lru_crawler disable",
    "lru_crawler disable",
    "lru_crawler crawl 1",
    "lru_crawler metadump all",
    "lru_crawler metadump 0",
    "lru_crawler enable",
    "lru_crawler tocrawl 0",
    "lru_crawler sleep 100",
];

fn control_answers(port: u16, memcached: bool) -> Vec<String> {
    let mut c = Client::connect(port);
    let mut out = Vec::new();
    for cmd in CONTROLS {
        out.push(c.line(cmd));
        if memcached && *cmd == "lru_crawler disable" {
            await_memcached_crawler_stop(&mut c);
        }
    }
    // memcached answers a metadump pipelined behind another answer with an error, but not
    // behind a get line or `mn`, which write their answers out first.
    out.push(c.call(
        b"set a 0 0 1\r\n1\r\nlru_crawler metadump all\r\n",
        "metadump\r\n",
    ));
    out.push(c.call(
        b"set b 0 0 1 noreply\r\n1\r\nlru_crawler metadump all\r\n",
        "\r\n",
    ));
    let dump = c.call(b"mn\r\nlru_crawler metadump all\r\n", "END\r\n");
    out.push(dump.lines().count().to_string());
    // The value, its END, two dump lines and the dump's END: read until the last.
    c.send(b"get a\r\nlru_crawler metadump all\r\n");
    let mut both = String::new();
    while both.matches("END\r\n").count() < 2 {
        both += &String::from_utf8(c.read_until(b"END\r\n")).unwrap();
    }
    out.push(both.lines().count().to_string());
    let settings = c.stats("settings");
    out.push(settings["lru_crawler"].clone());
    out.push(settings["lru_crawler_sleep"].clone());
    out.push(settings["lru_crawler_tocrawl"].clone());
    out
}

/// memcached's `lru_crawler disable` does not wait for its crawler thread
/// (CRAWLER_NOWAIT), and `lru_crawler` turns "no" in `stats settings` only when that
/// thread exits. Commands sent before then meet the stopping thread: a `crawl` gets the
/// generic error, a `metadump` the generic error or BADCLASS, and a later `enable` fails
/// and leaves the crawler off, so the metadumps after it never get the answer read for
/// (all seen here, about one run in four on a loaded host). corecached's `disable` is done
/// when it answers. So memcached, only, is given until its thread has stopped.
fn await_memcached_crawler_stop(c: &mut Client) {
    let stopped = eventually(2, || c.stats("settings")["lru_crawler"] == "no");
    assert!(
        stopped,
        "memcached's crawler thread did not stop within 2 s of `disable`"
    );
}

#[test]
fn controls_answer_as_memcached() {
    let s = Server::start(&["-t", "2"]);
    let ours = control_answers(s.port, false);
    assert_eq!(ours[0], "ERROR\r\n");
    assert_eq!(ours[2], "BADCLASS invalid class id\r\n");
    assert_eq!(ours[18], "ERROR failed to start lru crawler thread\r\n");
    assert_eq!(ours[21], "CLIENT_ERROR lru crawler disabled\r\n");
    assert_eq!(
        ours[CONTROLS.len()],
        "STORED\r\nERROR cannot pipeline other commands before metadump\r\n"
    );
    // `mn`'s MN, two items and END; then the value, its END, two items and END.
    let dumps = CONTROLS.len() + 2;
    assert_eq!((ours[dumps].as_str(), ours[dumps + 1].as_str()), ("4", "6"));
    let Some((_memcached, port)) = start_memcached() else {
        return;
    };
    let mut theirs = control_answers(port, true);
    // memcached's metadump is not a snapshot: an item its LRU maintainer moves while the
    // crawler walks can be missed or listed twice (a dump of these two items gave 7 lines
    // instead of 6 once in 25 runs here). corecached's counts are asserted above; one line
    // more or less from memcached is taken as that, and said.
    for i in [dumps, dumps + 1] {
        let (o, t): (usize, usize) = (ours[i].parse().unwrap(), theirs[i].parse().unwrap());
        if o.abs_diff(t) == 1 {
            eprintln!("memcached's metadump gave {t} lines where its items make {o}");
            theirs[i] = ours[i].clone();
        }
    }
    assert_eq!(ours, theirs);
}
