#!/usr/bin/env python3
"""Memory efficiency, corecached vs memcached: with -m 64, store 800,000 items with 9-byte
keys and 100-byte values, then report how many each keeps (curr_items) and its resident
memory (VmRSS). Usage: benches/memory_efficiency.py [path/to/corecached]"""
import os, socket, subprocess, sys, time

ITEMS, KEY_LEN, VALUE_LEN, MEM_MB = 800_000, 9, 100, 64


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on {port} did not start")


def stats(sock):
    sock.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        buf += sock.recv(65536)
    return {l.split()[1].decode(): l.split()[2].decode() for l in buf.splitlines() if l.startswith(b"STAT ")}


def fill(port):
    sock = socket.create_connection(("127.0.0.1", port))
    value = b"v" * VALUE_LEN
    batch = 2000
    for start in range(0, ITEMS, batch):
        req = b"".join(
            b"set %09d 0 0 %d noreply\r\n%s\r\n" % (i, VALUE_LEN, value) for i in range(start, start + batch)
        )
        sock.sendall(req)
    st = stats(sock)  # also a barrier: every set before it has been applied
    sock.close()
    return st


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def run(name, argv):
    port = free_port()
    proc = subprocess.Popen(argv + ["-p", str(port), "-l", "127.0.0.1", "-m", str(MEM_MB)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        st = fill(port)
        time.sleep(0.5)
        rss = rss_kb(proc.pid)
        print(f"{name:11s} kept {int(st['curr_items']):>8,} of {ITEMS:,} items, "
              f"evictions {int(st['evictions']):>8,}, RSS {rss / 1024:.1f} MiB")
        return int(st["curr_items"]), rss
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "release", "corecached")
    mc_items, mc_rss = run("memcached", ["memcached", "-u", "root", "-t", "1"])
    cc_items, cc_rss = run("corecached", [binary])
    print(f"ratio: items kept {cc_items / mc_items:.3f}x, resident memory {cc_rss / mc_rss:.3f}x")
