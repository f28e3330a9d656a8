//! The watch log lines, byte for byte as memcached 1.6.18 printed them for the same
//! requests (captured from Debian's /usr/bin/memcached), and the `watch` argument rules.

use super::*;

const AT: Stamp = Stamp {
    secs: 1796202632,
    micros: 65908,
};

fn line(e: &Event<'_>) -> String {
    let mut out = Vec::new();
    render(&mut out, AT, 3, e);
    String::from_utf8(out).unwrap()
}

#[test]
fn kinds_default_to_fetchers_and_refuse_unknown_words() {
    assert_eq!(parse_kinds(Keys(b"")), Some(FETCHERS));
    assert_eq!(
        parse_kinds(Keys(b"mutations evictions")),
        Some(MUTATIONS | EVICTIONS)
    );
    assert_eq!(parse_kinds(Keys(b"fetchers bogus")), None);
    assert_eq!(parse_kinds(Keys(b"deletions")), Some(DELETIONS));
}

#[test]
fn fetch_and_store_lines_match_memcached() {
    let get = Event::ItemGet {
        key: b"foo",
        found: Found::NotFound,
        clsid: 0,
        cfd: 25,
        size: 0,
    };
    assert_eq!(
        line(&get),
        "ts=1796202632.65908 gid=3 type=item_get key=foo status=not_found clsid=0 cfd=25 size=0\n"
    );
    let store = Event::ItemStore {
        key: b"k%20",
        status: StoreStatus::Stored,
        cmd: StoreCmd::Add,
        ttl: 100,
        clsid: 1,
        cfd: 25,
        size: 1,
    };
    assert_eq!(
        line(&store),
        "ts=1796202632.65908 gid=3 type=item_store key=k%2520 status=stored cmd=add ttl=100 clsid=1 cfd=25 size=1\n"
    );
}

#[test]
fn eviction_deletion_and_connection_lines() {
    let ev = Event::Eviction {
        key: b"n,foo1",
        fetched: false,
        ttl: -1,
        la: 2,
        clsid: 40,
        size: 11000,
    };
    assert_eq!(
        line(&ev),
        "ts=1796202632.65908 gid=3 type=eviction key=n%2Cfoo1 fetch=no ttl=-1 la=2 clsid=40 size=11000\n"
    );
    let del = Event::Deleted {
        key: b"a",
        meta: true,
        clsid: 1,
        size: 4,
    };
    assert_eq!(
        line(&del),
        "ts=1796202632.65908 gid=3 type=deleted key=a cmd=md clsid=1 size=4\n"
    );
    let peer = Peer {
        rip: "127.0.0.1",
        rport: 42072,
        transport: Transport::Tcp,
    };
    assert_eq!(
        line(&Event::ConnNew { peer, cfd: 25 }),
        "ts=1796202632.65908 gid=3 type=conn_new rip=127.0.0.1 rport=42072 transport=tcp cfd=25\n"
    );
    let close = Event::ConnClose {
        peer,
        reason: CloseReason::Normal,
        cfd: 25,
    };
    assert_eq!(
        line(&close),
        "ts=1796202632.65908 gid=3 type=conn_close rip=127.0.0.1 rport=42072 transport=tcp reason=normal cfd=25\n"
    );
}

#[test]
fn uri_encoding_keeps_unreserved_bytes_only() {
    let mut out = Vec::new();
    uri_encode(&mut out, b"aZ9-._~ #\x00\xff");
    assert_eq!(out, b"aZ9-._~%20%23%00%FF");
    out.clear();
    uri_encode(&mut out, &[b'#'; 250]);
    assert_eq!(out.len(), 750);
}
