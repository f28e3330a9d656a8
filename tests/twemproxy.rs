//! corecached behind twemproxy (Debian's `nutcracker`), the proxy people already run to
//! spread keys over many memcached hosts: three nodes in a ketama pool with
//! `auto_eject_hosts`, then a node killed; and the same with twin pairs as the pool's
//! servers, where a killed node restarts, catches up from its twin and loses no key.
//! docs/scaling.md has the recipes these tests check.

mod common;
#[path = "twemproxy/nutcracker.rs"]
mod nutcracker;

use common::{Client, Server, eventually, free_port};
use nutcracker::{Nutcracker, Pool};
use std::collections::HashMap;
use std::process::Command;

/// Whether nutcracker is installed. Under CI=true (`.ci/run` installs it) its absence fails
/// the test; elsewhere the test says it skipped.
fn nutcracker_present() -> bool {
    let ok = Command::new("nutcracker")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nutcracker is required under CI=true (apt-get install nutcracker; see .ci/run)"
        );
        eprintln!("SKIPPED: nutcracker not installed (apt-get install nutcracker)");
    }
    ok
}

/// The test's keys and values: varied lengths, each value naming its key.
fn dataset(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let v = format!("value-{i}-{}", "x".repeat(i % 97)).into_bytes();
            (format!("tw:{i}"), v)
        })
        .collect()
}

/// A `get`/`gets` reply: key -> (value, cas unique if present).
fn parse_values(resp: &[u8]) -> HashMap<String, (Vec<u8>, Option<u64>)> {
    let mut out = HashMap::new();
    let mut rest = resp;
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("line end");
        let line = String::from_utf8_lossy(&rest[..eol]).into_owned();
        rest = &rest[eol + 2..];
        if line == "END" {
            assert!(rest.is_empty(), "bytes after END: {rest:?}");
            return out;
        }
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f[0], "VALUE", "unexpected line {line:?}");
        let len: usize = f[3].parse().unwrap();
        let cas = f.get(4).map(|c| c.parse().unwrap());
        out.insert(f[1].to_string(), (rest[..len].to_vec(), cas));
        rest = &rest[len + 2..];
    }
}

/// `cmd` (get or gets) of `keys` in one request.
fn multi(c: &mut Client, cmd: &str, keys: &[&str]) -> HashMap<String, (Vec<u8>, Option<u64>)> {
    let resp = c.call(
        format!("{cmd} {}\r\n", keys.join(" ")).as_bytes(),
        "END\r\n",
    );
    parse_values(resp.as_bytes())
}

/// Which node holds each key, asked of the nodes themselves (not recomputed from ketama).
fn owners(nodes: &[&Server], data: &[(String, Vec<u8>)]) -> HashMap<String, usize> {
    let keys: Vec<&str> = data.iter().map(|(k, _)| k.as_str()).collect();
    let mut owner = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut c = node.client();
        for chunk in keys.chunks(100) {
            for k in multi(&mut c, "get", chunk).into_keys() {
                assert!(owner.insert(k.clone(), i).is_none(), "{k} on two nodes");
            }
        }
    }
    owner
}

/// Every key of `data` that `keep` accepts reads back through `c` with its value.
fn read_back(c: &mut Client, data: &[(String, Vec<u8>)], keep: impl Fn(&str) -> bool) -> usize {
    let mut n = 0;
    for (k, v) in data.iter().filter(|(k, _)| keep(k)) {
        assert_eq!(fetch(c, k), Ok(Some(v.clone())), "{k}");
        n += 1;
    }
    n
}

/// One `get` through the proxy: the value or a miss, or the error line twemproxy answered
/// instead (then no END follows).
fn fetch(c: &mut Client, key: &str) -> Result<Option<Vec<u8>>, String> {
    c.send(format!("get {key}\r\n").as_bytes());
    let mut got = Vec::new();
    loop {
        got.extend(c.read_until(b"\r\n"));
        if got.starts_with(b"SERVER_ERROR") || got.starts_with(b"ERROR") {
            return Err(String::from_utf8_lossy(&got).into_owned());
        }
        if got.ends_with(b"END\r\n") {
            let mut values = parse_values(&got);
            return Ok(values.remove(key).map(|(v, _)| v));
        }
    }
}

fn set_all(c: &mut Client, data: &[(String, Vec<u8>)]) {
    for (k, v) in data {
        assert_eq!(c.set(k, v), "STORED\r\n", "set {k} through the proxy");
    }
}

/// The set, multi-get, gets/cas and incr part, through the proxy at `c`.
fn commands_through_the_proxy(
    c: &mut Client,
    nodes: &[&Server],
    data: &[(String, Vec<u8>)],
) -> HashMap<String, usize> {
    set_all(c, data);
    let owner = owners(nodes, data);
    assert_eq!(owner.len(), data.len(), "every key on exactly one node");
    for i in 0..nodes.len() {
        let held = owner.values().filter(|&&o| o == i).count();
        assert!(held > 0, "node {i} holds none of {} keys", data.len());
    }
    // Multi-gets spanning all nodes: twemproxy splits them by server and merges the replies.
    let keys: Vec<&str> = data.iter().map(|(k, _)| k.as_str()).collect();
    for chunk in keys.chunks(100) {
        let got = multi(c, "get", chunk);
        assert_eq!(got.len(), chunk.len());
        for (k, v) in data.iter().filter(|(k, _)| got.contains_key(k)) {
            assert_eq!(&got[k].0, v, "{k}");
        }
    }
    // gets and cas are forwarded for the text protocol: one key per node, in one request.
    let pick: Vec<&str> = (0..nodes.len())
        .map(|i| keys.iter().copied().find(|k| owner[*k] == i).unwrap())
        .collect();
    let uniques = multi(c, "gets", &pick);
    for (i, k) in pick.iter().enumerate() {
        let direct = multi(&mut nodes[i].client(), "gets", &[k]);
        assert_eq!(uniques[*k].1, direct[*k].1, "{k}: the owner's cas unique");
        let unique = uniques[*k].1.expect("gets gives a cas unique");
        let req = format!("cas {k} 7 0 3 {unique}\r\nnew\r\n");
        assert_eq!(c.call(req.as_bytes(), "\r\n"), "STORED\r\n");
        assert_eq!(c.call(req.as_bytes(), "\r\n"), "EXISTS\r\n", "stale unique");
    }
    let after = multi(c, "gets", &pick);
    for k in &pick {
        assert_eq!(after[*k].0, b"new");
        assert_ne!(after[*k].1, uniques[*k].1);
    }
    for k in &pick {
        c.set(k, &data.iter().find(|(d, _)| d == k).unwrap().1);
    }
    // Counters on every node.
    for i in 0..30 {
        assert_eq!(c.set(&format!("ctr:{i}"), b"10"), "STORED\r\n");
        assert_eq!(
            c.line(&format!("incr ctr:{i} {i}")),
            format!("{}\r\n", 10 + i)
        );
        assert_eq!(c.line(&format!("decr ctr:{i} 3")), format!("{}\r\n", 7 + i));
    }
    assert_eq!(c.line("incr no-such-counter 1"), "NOT_FOUND\r\n");
    for i in 0..30 {
        // A decr that shortens the number keeps the length, space-padded, as memcached does.
        let v = c.get(&format!("ctr:{i}")).unwrap();
        assert_eq!(v.trim_ascii_end(), format!("{}", 7 + i).as_bytes());
    }
    assert_eq!(read_back(c, data, |_| true), data.len());
    owner
}

#[test]
fn three_nodes_behind_nutcracker_and_one_killed() {
    if !nutcracker_present() {
        return;
    }
    let mut nodes: Vec<Server> = (0..3).map(|_| Server::start(&["-t", "2"])).collect();
    let servers = |ns: &[Server]| -> Vec<(u16, String)> {
        (ns.iter().enumerate())
            .map(|(i, s)| (s.port, format!("n{i}")))
            .collect()
    };
    // `warm` carries the traffic. `cold` has the same servers, but no connection to the
    // victim when it dies, and a short retry: what a client meets on a proxy that must
    // (re)connect to a dead node.
    let proxy = Nutcracker::start(&[
        Pool {
            name: "warm",
            retry_ms: 30_000,
            servers: servers(&nodes),
        },
        Pool {
            name: "cold",
            retry_ms: 2_000,
            servers: servers(&nodes),
        },
    ]);
    let data = dataset(300);
    let mut c = Client::connect(proxy.ports[0]);
    let refs: Vec<&Server> = nodes.iter().collect();
    let owner = commands_through_the_proxy(&mut c, &refs, &data);

    let victim = 1;
    nodes[victim].kill9();
    // The proxy's idle connection to the victim ends (EOF): with server_failure_limit 1
    // that alone ejects it, before any client asks for one of its keys.
    assert!(proxy.wait_ejected("warm", "n1"), "n1 not ejected");
    assert!(proxy.stats()["warm"]["server_ejects"].as_u64().unwrap() >= 1);
    let survivors = read_back(&mut c, &data, |k| owner[k] != victim);
    assert_eq!(
        survivors + owner.values().filter(|&&o| o == victim).count(),
        300
    );
    // The victim's keys now hash to the survivors, which never had them: misses, not errors.
    let lost: Vec<&str> = (data.iter().map(|(k, _)| k.as_str()))
        .filter(|k| owner[*k] == victim)
        .collect();
    for k in &lost {
        assert_eq!(fetch(&mut c, k), Ok(None), "{k} after ejection");
    }
    // ... and writes to them land on a survivor.
    assert_eq!(c.set(lost[0], b"moved"), "STORED\r\n");
    assert_eq!(fetch(&mut c, lost[0]), Ok(Some(b"moved".to_vec())));

    errors_before_ejection(&proxy, &data, &owner, victim, &lost);
}

/// On the `cold` pool: a request that needs a connection to the dead node fails with
/// twemproxy's `SERVER_ERROR Connection refused`, which ejects the node; a multi-get with
/// one such key fails whole and the proxy closes the connection; once the retry timeout
/// passes, the next request for the node's keys is tried on it again and fails the same way.
fn errors_before_ejection(
    proxy: &Nutcracker,
    data: &[(String, Vec<u8>)],
    owner: &HashMap<String, usize>,
    victim: usize,
    lost: &[&str],
) {
    let live = data.iter().find(|(k, _)| owner[k] != victim).unwrap();
    let mut c = Client::connect(proxy.ports[1]);
    let reply = c.call(format!("get {} {}\r\n", live.0, lost[1]).as_bytes(), "\r\n");
    assert_eq!(reply, "SERVER_ERROR Connection refused\r\n", "multi-get");
    assert!(
        c.is_closed(),
        "the proxy closes a connection whose multi-get failed"
    );
    assert!(proxy.wait_ejected("cold", "n1"));

    let mut c = Client::connect(proxy.ports[1]);
    assert_eq!(
        fetch(&mut c, lost[1]),
        Ok(None),
        "ejected: a miss on a survivor"
    );
    assert_eq!(fetch(&mut c, &live.0), Ok(Some(live.1.clone())));
    // After server_retry_timeout (2 s here) the proxy puts n1 back and tries it once more.
    let mut again = Ok(None);
    let retried = eventually(20, || {
        again = fetch(&mut c, lost[1]);
        again.is_err()
    });
    assert!(retried, "the cold pool never retried n1");
    assert_eq!(again, Err("SERVER_ERROR Connection refused\r\n".into()));
    // Stats are aggregated every 100 ms.
    assert!(eventually(10, || proxy.server_stat(
        "cold",
        "n1",
        "server_err"
    ) >= 2));
    assert_eq!(fetch(&mut c, &live.0), Ok(Some(live.1.clone())));
}

/// A twin pair: `a` is in the proxy's pool, `b` its twin behind it.
struct Pair {
    a: Server,
    b: Server,
    a_repl: u16,
    b_repl: u16,
}

fn twin_args(repl: u16, twin_repl: u16) -> Vec<String> {
    let twin = format!("127.0.0.1:{twin_repl}");
    ["-t", "2", "-X", &repl.to_string(), "--twin", &twin]
        .map(String::from)
        .to_vec()
}

/// A pair on free ports; parallel tests can take a port between the probe and the bind, so
/// a pair that fails to start is tried again on new ports.
fn pair() -> Pair {
    let mut last = String::new();
    for _ in 0..5 {
        let (a_repl, b_repl) = (free_port(), free_port());
        let (a_args, b_args) = (twin_args(a_repl, b_repl), twin_args(b_repl, a_repl));
        let a = Server::try_start(&a_args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        let b = Server::try_start(&b_args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        match (a, b) {
            (Ok(a), Ok(b)) => {
                return Pair {
                    a,
                    b,
                    a_repl,
                    b_repl,
                };
            }
            (Err(e), _) | (_, Err(e)) => last = e,
        }
    }
    panic!("twin pair did not start: {last}");
}

/// Every key of node `i` in `owner` is on `node` with its value (bounded wait).
fn holds(node: &Server, data: &[(String, Vec<u8>)], owner: &HashMap<String, usize>, i: usize) {
    let mut c = node.client();
    let mine: Vec<&(String, Vec<u8>)> = data.iter().filter(|(k, _)| owner[k] == i).collect();
    let ok = eventually(20, || {
        mine.iter().all(|(k, v)| c.get(k).as_ref() == Some(v))
    });
    assert!(ok, "node on port {} lacks keys of pair {i}", node.port);
}

/// The pool over `pairs`: entries are named after the pair, so a name keeps its keys
/// whichever twin it points at; `failed` points at that pair's twin instead.
fn pool(name: &'static str, pairs: &[Pair], failed: Option<usize>) -> Pool {
    Pool {
        name,
        retry_ms: 5_000,
        servers: (pairs.iter().enumerate())
            .map(|(i, p)| {
                let node = if failed == Some(i) { &p.b } else { &p.a };
                (node.port, format!("pair{i}"))
            })
            .collect(),
    }
}

#[test]
fn twin_pairs_behind_nutcracker_lose_no_key() {
    if !nutcracker_present() {
        return;
    }
    let mut pairs: Vec<Pair> = (0..3).map(|_| pair()).collect();
    let proxy = Nutcracker::start(&[pool("pairs", &pairs, None)]);
    let data = dataset(300);
    let mut c = Client::connect(proxy.ports[0]);
    set_all(&mut c, &data);
    let owner = owners(&pairs.iter().map(|p| &p.a).collect::<Vec<_>>(), &data);
    assert_eq!(owner.len(), data.len());
    for (i, p) in pairs.iter().enumerate() {
        holds(&p.b, &data, &owner, i);
    }

    let victim = 1;
    let (port, a_repl, b_repl) = (pairs[1].a.port, pairs[1].a_repl, pairs[1].b_repl);
    pairs[victim].a.kill9();
    assert!(proxy.wait_ejected("pairs", "pair1"));
    // A write for one of pair1's keys while it is ejected goes to another pair...
    let shadowed = data.iter().find(|(k, _)| owner[k] == victim).unwrap();
    assert_eq!(c.set(&shadowed.0, b"during-outage"), "STORED\r\n");
    read_back(&mut c, &data, |k| owner[k] != victim);
    holds(&pairs[victim].b, &data, &owner, victim);

    // The failover without misses: the same names with pair1 pointing at its twin.
    let repointed = Nutcracker::start(&[pool("repointed", &pairs, Some(victim))]);
    let mut r = Client::connect(repointed.ports[0]);
    assert_eq!(read_back(&mut r, &data, |_| true), data.len());
    let via_twin = data
        .iter()
        .filter(|(k, _)| owner[k] == victim)
        .nth(1)
        .unwrap();
    assert_eq!(r.set(&via_twin.0, b"via-twin"), "STORED\r\n");

    // The node returns on its port and copies everything from its twin.
    let args = twin_args(a_repl, b_repl);
    pairs[victim].a = Server::start_on(port, &args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    let mut expect = data.clone();
    expect.iter_mut().find(|(k, _)| *k == via_twin.0).unwrap().1 = b"via-twin".to_vec();
    holds(&pairs[victim].a, &expect, &owner, victim);
    // Once the retry timeout passes, the first proxy has pair1 back: no key lost, and the
    // write made through the twin is there.
    assert!(
        eventually(30, || fetch(&mut c, &via_twin.0)
            == Ok(Some(b"via-twin".to_vec()))),
        "pair1 did not come back into the pool"
    );
    assert_eq!(read_back(&mut c, &expect, |_| true), data.len());
    // The write made while pair1 was ejected sits on another pair, hidden behind the
    // returned node's older copy: twemproxy's ejection, not replication, lost it.
    let holder = (pairs.iter().map(|p| p.a.client()))
        .filter_map(|mut n| n.get(&shadowed.0))
        .collect::<Vec<_>>();
    assert!(holder.contains(&b"during-outage".to_vec()), "{holder:?}");
}

/// Every key of `data` is on `node` with its value (bounded wait).
fn all_on(node: &Server, data: &[(String, Vec<u8>)]) {
    let mut c = node.client();
    let ok = eventually(20, || {
        data.iter().all(|(k, v)| c.get(k).as_ref() == Some(v))
    });
    assert!(ok, "node on port {} lacks keys", node.port);
}

#[test]
fn one_twin_pair_as_the_whole_pool_misses_nothing_through_a_failure() {
    if !nutcracker_present() {
        return;
    }
    let mut p = pair();
    let pool = Pool {
        name: "both",
        retry_ms: 5_000,
        servers: vec![(p.a.port, "a".into()), (p.b.port, "b".into())],
    };
    let proxy = Nutcracker::start(&[pool]);
    let data = dataset(300);
    let mut c = Client::connect(proxy.ports[0]);
    set_all(&mut c, &data);
    // Each key went to one twin, and replication gives it to the other.
    all_on(&p.a, &data);
    all_on(&p.b, &data);
    let requests = |server| proxy.server_stat("both", server, "requests");
    assert!(eventually(10, || requests("a") > 0 && requests("b") > 0));

    let (port, a_repl, b_repl) = (p.a.port, p.a_repl, p.b_repl);
    p.a.kill9();
    assert!(proxy.wait_ejected("both", "a"));
    // a's keys now go to b, which has them all: no miss.
    assert_eq!(read_back(&mut c, &data, |_| true), data.len());
    let mut now: Vec<(String, Vec<u8>)> = data.clone();
    for (k, v) in now.iter_mut().step_by(3) {
        *v = format!("{k}-during-outage").into_bytes();
        assert_eq!(c.set(k, v), "STORED\r\n");
    }

    // a returns and copies b's data, the outage's writes included, so whichever twin the
    // proxy picks once a is back, every key reads its newest value.
    let args = twin_args(a_repl, b_repl);
    p.a = Server::start_on(port, &args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    all_on(&p.a, &now);
    let before = requests("a");
    let back = eventually(30, || {
        read_back(&mut c, &now, |_| true);
        requests("a") > before
    });
    assert!(back, "a did not come back into the pool");
    assert_eq!(read_back(&mut c, &now, |_| true), data.len());
}
