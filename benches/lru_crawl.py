#!/usr/bin/env python3
"""How long `lru_crawler crawl all` takes over N items, and what a get waits meanwhile.

usage: lru_crawl.py PORT N

Stores N items (half with exptime 5) with noreply, waits until that half expired, sends
`lru_crawler crawl all`, and until `stats` shows `lru_crawler_running 0` times single gets
on a second connection. Prints the crawl's duration, crawler_reclaimed, and the gets'
count, median, 99th percentile and worst latency. Works against memcached too."""

import socket
import sys
import time


def conn(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def call(s, req, end):
    s.sendall(req)
    out = b""
    while not out.endswith(end):
        out += s.recv(1 << 20)
    return out


def stats(s):
    text = call(s, b"stats\r\n", b"END\r\n").decode()
    return dict(l.split(" ")[1:3] for l in text.splitlines() if l.startswith("STAT "))


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    a, b = conn(port), conn(port)
    payload = b"".join(b"set k%d 0 %d 1 noreply\r\nx\r\n" % (i, 5 * (i % 2)) for i in range(n))
    t0 = time.perf_counter()
    a.sendall(payload)
    call(a, b"version\r\n", b"\r\n")
    fill = time.perf_counter() - t0
    # The odd half expires 5 s after it was stored (whole seconds): all of it within 6 s of
    # the fill's end, none during a fill under 4 s.
    time.sleep(6.2)
    before = int(stats(a).get("crawler_reclaimed", 0))
    start = time.perf_counter()
    reply = call(a, b"lru_crawler crawl all\r\n", b"\r\n")
    assert reply == b"OK\r\n", reply
    lat = []
    i = 0
    while True:
        t = time.perf_counter()
        call(b, b"get k%d\r\n" % (2 * (i % (n // 2))), b"END\r\n")
        lat.append(time.perf_counter() - t)
        i += 1
        if i % 200 == 0 and stats(a)["lru_crawler_running"] == "0":
            break
    took = time.perf_counter() - start
    freed = int(stats(a)["crawler_reclaimed"]) - before
    lat.sort()
    ms = lambda x: f"{x * 1000:.3f} ms"
    print(f"{n} items (filled in {fill:.2f} s): crawl {took:.2f} s, crawler_reclaimed +{freed}; {len(lat)} gets meanwhile: "
          f"median {ms(lat[len(lat) // 2])}, p99 {ms(lat[len(lat) * 99 // 100])}, worst {ms(lat[-1])}")


if __name__ == "__main__":
    main()
