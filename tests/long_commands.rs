//! Long commands against the real binary: `lru_crawler metadump` over many items is streamed
//! in steps while the shard keeps answering others, `stats cachedump` answers as memcached
//! does (compared with a live memcached 1.6), and `flush_all` over many items is immediate.

mod common;

use common::{Client, Server, each_shard_count, start_memcached};
use std::collections::HashSet;
use std::io::Read;

/// Stores `n` items `item:<i>` (7 digits, value `v<i>` 8 digits) with noreply, then waits
/// for them with one ordinary get.
fn fill(c: &mut Client, n: usize) {
    let mut req = Vec::with_capacity(64 * 10_000);
    for i in 0..n {
        req.extend_from_slice(format!("set item:{i:07} 0 0 9 noreply\r\nv{i:08}\r\n").as_bytes());
        if req.len() > 60 * 10_000 {
            c.send(&req);
            req.clear();
        }
    }
    c.send(&req);
    assert_eq!(c.get("item:0000000"), Some(b"v00000000".to_vec()));
}

fn resident_kb(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A metadump of 300k items (about 25 MB of lines, far more than the socket buffers hold)
/// lists every item exactly once with its fields, and while its client has stopped reading
/// in the middle, another connection's gets and sets are answered: the dump cannot have
/// finished then, because its client had not read it. Between two of the dump client's reads
/// the server holds only a step's lines, not the whole dump.
#[test]
fn metadump_streams_while_others_are_served() {
    const N: usize = 300_000;
    each_shard_count(&["-m", "256"], |s| {
        let mut c = s.client();
        fill(&mut c, N);
        c.call(b"set fetched 0 0 1\r\nx\r\n", "\r\n");
        c.get("fetched");
        let far = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 100_000;
        c.call(format!("set later 0 {far} 1\r\nx\r\n").as_bytes(), "\r\n");
        let before = resident_kb(s);

        let mut dump = s.client();
        dump.send(b"lru_crawler metadump all\r\n");
        let mut first = vec![0u8; 4096];
        let got = dump.stream.read(&mut first).unwrap();
        first.truncate(got);
        assert!(
            first.starts_with(b"key="),
            "{:?}",
            String::from_utf8_lossy(&first)
        );

        // The dump's client reads nothing more until these are answered.
        let mut other = s.client();
        for i in (0..N).step_by(N / 50) {
            let want = format!("v{i:08}").into_bytes();
            assert_eq!(other.get(&format!("item:{i:07}")), Some(want));
        }
        assert_eq!(other.set("written:during", b"y"), "STORED\r\n");
        let during = resident_kb(s);
        assert!(
            during < before + 12 * 1024,
            "resident grew from {before} kB to {during} kB during the dump"
        );

        let mut rest = dump.read_until(b"END\r\n");
        first.append(&mut rest);
        assert!(first.len() > 20_000_000, "{} bytes", first.len());
        let text = String::from_utf8(first).unwrap();
        let mut seen = HashSet::new();
        for line in text.lines().filter(|l| *l != "END") {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 7, "{line}");
            let key = f[0].strip_prefix("key=").unwrap();
            assert!(seen.insert(key.to_string()), "{key} listed twice");
            let exp = if key == "later" {
                format!("exp={far}")
            } else {
                "exp=-1".to_string()
            };
            assert_eq!(f[1], exp, "{line}");
            // The gets during the dump may or may not show in it, as in memcached.
            let read_during = key
                .strip_prefix("item%3A")
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i % (N / 50) == 0);
            match key {
                "fetched" | "item%3A0000000" => assert_eq!(f[4], "fetch=yes", "{line}"),
                _ if read_during => assert!(f[4].starts_with("fetch="), "{line}"),
                _ => assert_eq!(f[4], "fetch=no", "{line}"),
            }
            assert!(
                f[2].starts_with("la=") && f[3].starts_with("cas="),
                "{line}"
            );
            let size: usize = f[6].strip_prefix("size=").unwrap().parse().unwrap();
            assert!(size > key.len() && size < 100, "{line}");
        }
        seen.remove("written%3Aduring");
        assert_eq!(seen.len(), N + 2);
        assert!((0..N).all(|i| seen.contains(&format!("item%3A{i:07}"))));
        // The connection still answers after the dump.
        assert_eq!(dump.get("later"), Some(b"x".to_vec()));
    });
}

/// `stats cachedump` answers byte for byte as memcached 1.6 does: lines newest first, limit
/// 0 for all, a class with no items, class 0, a class id past the last, bad arguments.
#[test]
fn cachedump_matches_memcached() {
    let Some((_mc, mc_port)) = start_memcached() else {
        return;
    };
    let ours = Server::start(&["-t", "1"]);
    let mut theirs = Client::connect(mc_port);
    let mut us = ours.client();
    let far = 2_000_000_000u64;
    for c in [&mut theirs, &mut us] {
        for i in 0..5 {
            c.set(&format!("k{i}"), b"0123456789");
        }
        c.call(
            format!("set e1 3 {far} 10\r\n0123456789\r\n").as_bytes(),
            "\r\n",
        );
        c.set("big", &[b'x'; 3000]);
    }
    settle_in_cold(&mut theirs, 7);
    let small = (class_of(&mut theirs, 6), class_of(&mut us, 6));
    let big = (class_of(&mut theirs, 1), class_of(&mut us, 1));
    let cases = [
        (small, "0"),
        (small, "2"),
        (small, "1 extra"),
        (small, "99999999999"),
        (big, "0"),
        ((40, 40), "0"),
        ((0, 0), "1"),
        ((63, 63), "1"),
        ((64, 64), "1"),
        ((1, 1), "-1"),
    ];
    for ((mc_class, our_class), limit) in cases {
        let mine = us.call(
            format!("stats cachedump {our_class} {limit}\r\n").as_bytes(),
            "\r\n",
        );
        let want = theirs.call(
            format!("stats cachedump {mc_class} {limit}\r\n").as_bytes(),
            "\r\n",
        );
        let (mine, want) = (finish(&mut us, mine), finish(&mut theirs, want));
        assert_eq!(mine, want, "stats cachedump <class> {limit}");
    }
    for bad in [
        "stats cachedump",
        "stats cachedump 1",
        "stats cachedump x 1",
    ] {
        let req = format!("{bad}\r\n");
        assert_eq!(us.line(bad), theirs.line(bad), "{req}");
    }
}

/// memcached 1.6's cachedump lists a class's COLD LRU only, and its LRU maintainer moves
/// new items there from HOT within moments while HOT is small: wait (bounded) until at
/// least `n` items are in COLD.
fn settle_in_cold(c: &mut Client, n: u64) {
    for _ in 0..200 {
        let cold: u64 = c
            .stats("items")
            .iter()
            .filter(|(k, _)| k.ends_with(":number_cold"))
            .map(|(_, v)| v.parse::<u64>().unwrap())
            .sum();
        if cold >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("memcached kept fewer than {n} items in COLD");
}

/// The id of the class holding exactly `n` items, from `stats items`.
fn class_of(c: &mut Client, n: u64) -> u32 {
    find_class(c, n).unwrap_or_else(|| panic!("no class with {n} items: {:?}", c.stats("items")))
}

fn find_class(c: &mut Client, n: u64) -> Option<u32> {
    let (key, _) = c
        .stats("items")
        .into_iter()
        .find(|(k, v)| k.ends_with(":number") && v.parse::<u64>() == Ok(n))?;
    key.split(':').nth(1)?.parse().ok()
}

/// memcached sums a class's `number` from its segments' counts, read one after the other
/// while its LRU maintainer moves items between them: a read can miss the item in transit
/// (seen in CI: 99,999 of 100,000, with `moves_to_cold` one ahead of `number_cold`). Reads
/// again, bounded, until a class shows exactly `n`.
fn class_of_settled(c: &mut Client, n: u64) -> u32 {
    for _ in 0..100 {
        if let Some(class) = find_class(c, n) {
            return class;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    class_of(c, n)
}

/// Reads the rest of a multi-line answer whose first line was `first`.
fn finish(c: &mut Client, first: String) -> String {
    if first.starts_with("ITEM ") && !first.ends_with("END\r\n") {
        first + &String::from_utf8(c.read_until(b"END\r\n")).unwrap()
    } else {
        first
    }
}

/// memcached caps a cachedump at 2 MB: the listing stops at the first line that would not
/// leave room for END, on both servers, with every line the same length here. (memcached
/// keeps about a fifth of a class in HOT, which its cachedump does not list: 100k items
/// leave more than the 70k lines that fit in COLD.)
#[test]
fn cachedump_stops_at_two_megabytes_like_memcached() {
    const N: usize = 100_000;
    let Some((_mc, mc_port)) = start_memcached() else {
        return;
    };
    let ours = Server::start(&["-t", "4"]);
    let mut answers = Vec::new();
    for port in [mc_port, ours.port] {
        let mut c = Client::connect(port);
        fill(&mut c, N);
        if port == mc_port {
            settle_in_cold(&mut c, 75_000);
        }
        let class = if port == mc_port {
            class_of_settled(&mut c, N as u64)
        } else {
            class_of(&mut c, N as u64)
        };
        let text = c.call(
            format!("stats cachedump {class} 0\r\n").as_bytes(),
            "END\r\n",
        );
        let line_len = text.find("\r\n").unwrap() + 2;
        assert!(text.len() < 2 * 1024 * 1024, "{} bytes", text.len());
        assert!(
            text.len() + line_len + 1 > 2 * 1024 * 1024,
            "{}",
            text.len()
        );
        answers.push(text.len());
        // A limit still counts items.
        let three = c.call(
            format!("stats cachedump {class} 3\r\n").as_bytes(),
            "END\r\n",
        );
        assert_eq!(three.lines().count(), 4, "{three}");
    }
    assert_eq!(answers[0], answers[1]);
}

/// flush_all over many items answers at once (it sets a threshold; nothing is walked), and
/// every item is gone after it, from gets and from a metadump alike.
#[test]
fn flush_all_over_many_items_then_gets_miss() {
    each_shard_count(&["-m", "256"], |s| {
        let mut c = s.client();
        fill(&mut c, 200_000);
        assert_eq!(c.line("flush_all"), "OK\r\n");
        for i in (0..200_000).step_by(997) {
            assert_eq!(c.get(&format!("item:{i:07}")), None);
        }
        assert_eq!(
            c.call(b"lru_crawler metadump all\r\n", "END\r\n"),
            "END\r\n"
        );
        assert_eq!(c.set("after", b"z"), "STORED\r\n");
        assert_eq!(c.get("after"), Some(b"z".to_vec()));
    });
}
