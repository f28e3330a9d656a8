#!/usr/bin/env python3
"""Server CPU per key of binary multi-gets: getkq for each of K keys then a noop, as pylibmc
and Dalli pipeline get_multi. Fills N keys (setq pipelines), then runs R rounds of K-key
multi-gets over random keys from one connection and reads the server's CPU ticks (utime +
stime from /proc/PID/stat) before and after: the client's own cost does not count.

usage: binary_multiget.py PORT PID [N=1000000] [K=100] [R=3000] [VALUE_BYTES=32]
"""
import os, random, socket, struct, sys

def pkt(op, key=b"", ext=b"", val=b""):
    body = len(ext) + len(key) + len(val)
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(ext), 0, 0, body, 0, 0) + ext + key + val

def ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])

def read_until_noop(s, buf):
    while True:
        i = 0
        while i + 24 <= len(buf):
            op = buf[i + 1]
            blen = struct.unpack(">I", buf[i + 8:i + 12])[0]
            if i + 24 + blen > len(buf):
                break
            i += 24 + blen
            if op == 0x0A:
                return buf[i:]
        d = s.recv(1 << 20)
        if not d:
            raise SystemExit("server closed")
        buf += d

def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n, k, rounds, vlen = (list(map(int, sys.argv[3:])) + [1000000, 100, 3000, 32][len(sys.argv) - 3:])[:4]
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ext = struct.pack(">II", 0, 0)
    val = b"v" * vlen
    buf = b""
    for start in range(0, n, 1000):
        s.sendall(b"".join(pkt(0x11, b"key:%d" % i, ext, val) for i in range(start, min(n, start + 1000))) + pkt(0x0A))
        buf = read_until_noop(s, buf)
    rng = random.Random(1)
    reqs = [b"".join(pkt(0x0D, b"key:%d" % rng.randrange(n)) for _ in range(k)) + pkt(0x0A) for _ in range(64)]
    t0 = ticks(pid)
    for r in range(rounds):
        s.sendall(reqs[r % 64])
        buf = read_until_noop(s, buf)
    used = ticks(pid) - t0
    hz = os.sysconf("SC_CLK_TCK")
    print(f"{used} ticks for {rounds * k} keys: {used / hz * 1e6 / (rounds * k):.3f} us server CPU per key")

main()
