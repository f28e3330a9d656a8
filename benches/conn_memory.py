#!/usr/bin/env python3
"""Connection-memory attacks of issue 12 against one server binary: prints the server's
resident memory (VmRSS, sampled every 50 ms) for each, and whether a fresh client is still
served. A run is stopped (server killed) when RSS passes --cap MB.

Usage: python3 benches/conn_memory.py BINARY [ATTACK ...] [--args "-t 4 -m 64"]
Attacks: multiget, pipeline1, pipeline4, pipeline1000, header1m, header128m, idle:N
(default: all but idle; idle:N needs N + a few fds under this process's hard limit, and
the server's -c must allow N: --args "-t 4 -m 64 -c 19500").
Works for memcached too (BINARY=/usr/bin/memcached; it gets -U 0 and -c 30000).
"""
import argparse
import os
import resource
import socket
import subprocess
import sys
import time

VALUE = 500_000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return 0
    return 0


class Server:
    def __init__(self, binary, args):
        self.port = free_port()
        cmd = [binary, "-p", str(self.port), "-l", "127.0.0.1"] + args
        if "memcached" in os.path.basename(binary) and "corecached" not in binary:
            cmd += ["-U", "0"] + ([] if "-c" in args else ["-c", "4096"])
            if os.geteuid() == 0:
                cmd += ["-u", "root"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise SystemExit("server did not start")

    def rss_mb(self):
        return rss_kb(self.proc.pid) / 1024

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def request(port, data, expect_end, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout)
    s.settimeout(timeout)
    s.sendall(data)
    got = b""
    while not got.endswith(expect_end):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    s.close()
    return got


def healthy(port):
    """A fresh client stores and reads back a value: "yes in N s" or "no"."""
    t0 = time.time()
    try:
        r = request(port, b"set health 0 0 5\r\nhello\r\nget health\r\n", b"END\r\n", 30)
        if r == b"STORED\r\nVALUE health 0 5\r\nhello\r\nEND\r\n":
            return f"yes in {time.time() - t0:.1f} s"
    except OSError:
        pass
    return "no"


def load_big(port):
    for i in range(4):
        r = request(port, b"set big%d 0 0 %d\r\n" % (i, VALUE) + b"x" * VALUE + b"\r\n", b"\r\n")
        assert r == b"STORED\r\n", r


def watch(server, seconds, cap_mb, step=None):
    """Peak RSS over `seconds` (running `step` between samples); None if it passed the cap."""
    peak = 0.0
    end = time.time() + seconds
    while time.time() < end:
        if step:
            step()
        peak = max(peak, server.rss_mb())
        if peak > cap_mb:
            return None
        time.sleep(0.05)
    return peak


def multiget(server, cap):
    load_big(server.port)
    line = b"get " + b" ".join(b"big%d" % (i % 4) for i in range(4000)) + b"\r\n"
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(line)
    peak = watch(server, 3, cap)
    ok = healthy(server.port) if peak else False
    got = 0
    if peak:
        s.settimeout(10)
        while True:
            chunk = s.recv(1 << 20)
            got += len(chunk)
            if not chunk or got >= 4000 * VALUE:
                break
    s.close()
    return peak, ok, f"read back {got / 1e6:.0f} MB of the answer"


def pipeline(n):
    def attack(server, cap):
        load_big(server.port)
        conns = []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.setblocking(False)
            conns.append(s)
        reqs = [b"get big%d\r\n" % (i % 4) * 1000 for i in range(4)]
        sent = [0]

        def push():
            for i, s in enumerate(conns):
                try:
                    sent[0] += s.send(reqs[i % 4])
                except BlockingIOError:
                    pass

        peak = watch(server, 4, cap, push)
        ok = healthy(server.port) if peak else False
        for s in conns:
            s.close()
        return peak, ok, f"{sent[0] / 1e6:.1f} MB of requests sent"

    return attack


def header(n, size, flag):
    def attack(server, cap):
        conns = []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"set k%d 0 0 %d\r\n" % (i, size))
            conns.append(s)
        peak = watch(server, 2, cap)
        ok = healthy(server.port) if peak else False
        for s in conns:
            s.close()
        return peak, ok, f"{n} headers for {size} bytes each (server started with -I {flag})"

    # memcached's rule, kept by corecached: -I at most half of -m.
    attack.extra_args = ["-I", flag] + (["-m", "512"] if flag == "128m" else [])
    return attack


def idle(n):
    def attack(server, cap):
        time.sleep(1)
        base = server.rss_mb()
        conns = []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", server.port))
            conns.append(s)
        for s in conns:
            s.sendall(b"version\r\n")
        for s in conns:
            s.recv(100)
        time.sleep(1)
        held = server.rss_mb()
        ok = healthy(server.port)
        for s in conns:
            s.close()
        time.sleep(2)
        after = server.rss_mb()
        per = (held - base) * 1024 / n
        return held, ok, (
            f"{n} idle: {base:.1f} MB before, {held:.1f} MB held ({per:.2f} KB each),"
            f" {after:.1f} MB 2 s after they closed"
        )

    return attack


ATTACKS = {
    "multiget": multiget,
    "pipeline1": pipeline(1),
    "pipeline4": pipeline(4),
    "pipeline1000": pipeline(1000),
    "header1m": header(1000, 1_000_000, "1m"),
    "header128m": header(30, 134_000_000, "128m"),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("attacks", nargs="*")
    ap.add_argument("--args", default="-t 4 -m 64")
    ap.add_argument("--cap", type=float, default=6000)
    a = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    names = a.attacks or list(ATTACKS)
    for name in names:
        f = idle(int(name.split(":")[1])) if name.startswith("idle:") else ATTACKS[name]
        args = a.args.split()
        extra = getattr(f, "extra_args", [])
        if "-m" in extra and "-m" in args:
            i = args.index("-m")
            del args[i : i + 2]
        args += extra
        server = Server(a.binary, args)
        base = server.rss_mb()
        try:
            peak, ok, note = f(server, a.cap)
        finally:
            alive = server.proc.poll() is None
            server.stop()
        shown = f"{peak:.0f} MB" if peak else f"> {a.cap:.0f} MB (killed)"
        print(f"{name}: start {base:.0f} MB, peak {shown}, other client served: {ok},"
              f" alive: {alive}; {note}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
