//! Every stats name memcached 1.6.18 prints, corecached prints too: plain `stats`,
//! `stats settings`, `stats items`, `stats slabs` and `stats conns`, from a live memcached
//! and a live corecached, each with its defaults and one item that was read. Per-class and
//! per-connection numbers are compared as N. docs/protocol.md lists the names with what
//! each means here; tests/memcached_suite/stats_names.py prints the same comparison.

mod common;

use common::{Client, Server, start_memcached};

/// The names of one stats section, in order, numbers of classes and connections as N.
fn names(c: &mut Client, section: &str) -> Vec<String> {
    let cmd = match section {
        "" => "stats\r\n".to_string(),
        s => format!("stats {s}\r\n"),
    };
    let text = c.call(cmd.as_bytes(), "END\r\n");
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(name) = line.strip_prefix("STAT ").and_then(|l| l.split(' ').next()) else {
            continue;
        };
        let name = numbered(name);
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// `items:5:number` -> `items:N:number`, `12:addr` -> `N:addr`.
fn numbered(name: &str) -> String {
    let (prefix, rest) = match name.strip_prefix("items:") {
        Some(rest) => ("items:", rest),
        None => ("", name),
    };
    match rest.split_once(':') {
        Some((n, tail)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{prefix}N:{tail}")
        }
        _ => name.to_string(),
    }
}

#[test]
fn numbers_in_names_are_folded() {
    assert_eq!(numbered("items:12:number"), "items:N:number");
    assert_eq!(numbered("3:chunk_size"), "N:chunk_size");
    assert_eq!(numbered("curr_items"), "curr_items");
    assert_eq!(numbered("shard:0:bytes"), "shard:0:bytes");
}

#[test]
fn every_name_memcached_prints_is_printed_here() {
    let Some((_memcached, port)) = start_memcached() else {
        return;
    };
    let ours = Server::start(&["-t", "2"]);
    let mut theirs = Client::connect(port);
    let mut here = ours.client();
    for c in [&mut theirs, &mut here] {
        assert_eq!(c.set("a", b"1"), "STORED\r\n");
        assert_eq!(c.get("a").as_deref(), Some(&b"1"[..]));
    }
    let mut missing = Vec::new();
    for section in ["", "settings", "items", "slabs", "conns"] {
        let theirs = names(&mut theirs, section);
        let here = names(&mut here, section);
        assert!(theirs.len() >= 4, "stats {section}: {theirs:?}");
        for name in theirs.iter().filter(|n| !here.contains(n)) {
            missing.push(format!("stats {section}: {name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "memcached prints, corecached does not: {missing:?}"
    );
}
