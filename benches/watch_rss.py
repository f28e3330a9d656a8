#!/usr/bin/env python3
"""A watcher that never reads must not make the server grow (docs/protocol.md, Watch).

Starts corecached (-t 2) with and without a `watch fetchers` connection that reads nothing,
runs 220,000 pipelined gets of 188-byte keys (1,000 per burst; each one a ~280-byte log
line), and prints the server's RSS after the first 20,000 and after all of them, with the
log_* stats. Usage: python3 benches/watch_rss.py [target/release/corecached]
"""
import socket
import subprocess
import sys
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/corecached"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1])


def run(logbuf_kb, watch):
    port = free_port()
    args = [BIN, "-p", str(port), "-l", "127.0.0.1", "-t", "2", "-o", f"watcher_logbuf_size={logbuf_kb}"]
    server = subprocess.Popen(args)
    try:
        for _ in range(200):
            try:
                c = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.02)
        if watch:
            w = socket.create_connection(("127.0.0.1", port))
            w.sendall(b"watch fetchers\r\n")
            w.recv(100)
        spacer = b"X" * 180

        def burst(r):
            c.sendall(b"".join(b"get r%dk%d%s\r\n" % (r, i, spacer) for i in range(1000)))
            got = b""
            while got.count(b"END\r\n") < 1000:
                got += c.recv(65536)

        for r in range(20):
            burst(r)
        first = rss(server.pid)
        for r in range(20, 220):
            burst(r)
        last = rss(server.pid)
        c.sendall(b"stats\r\n")
        text = b""
        while not text.endswith(b"END\r\n"):
            text += c.recv(65536)
        log = {l.split()[1]: l.split()[2] for l in text.decode().split("\r\n") if l.startswith("STAT log_")}
        print(f"logbuf={logbuf_kb}KB watcher={watch}: RSS {first} kB after 20k gets, {last} kB after 220k; {log}")
    finally:
        server.terminate()
        server.wait()


for watch in (False, True):
    for kb in (256, 8):
        run(kb, watch)
