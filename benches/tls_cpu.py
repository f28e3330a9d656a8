#!/usr/bin/env python3
"""Server CPU per request over TLS against plain TCP, on one server with a TLS port and a
`notls:` port (so both modes hit the same process and cache). Fills N keys, then for each
mode runs R requests from C connections in turn, at pipeline depth D (D gets of random keys
per write), and reads the server's CPU ticks (utime + stime from /proc/PID/stat) before and
after: the client's own cost (Python's ssl module) does not count. Also times handshakes:
H new TLS connections, each closed after one `version`, server CPU per handshake.

usage: tls_cpu.py TLS_PORT PLAIN_PORT PID [N=10000] [R=200000] [C=4] [D=1] [H=500]
"""
import os, random, socket, ssl, sys, time

def ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])

HZ = os.sysconf("SC_CLK_TCK")
CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE

def connect(port, tls):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return CTX.wrap_socket(s) if tls else s

def read_ends(s, ends, buf=b""):
    """Reads until `ends` END lines have arrived; returns what follows them."""
    while buf.count(b"END\r\n") < ends:
        d = s.recv(1 << 20)
        if not d:
            raise SystemExit("server closed")
        buf += d
    return b""

def run(port, tls, pid, n, reqs, conns, depth):
    socks = [connect(port, tls) for _ in range(conns)]
    rnd = random.Random(7)
    per = reqs // (conns * depth)
    t0, w0 = ticks(pid), time.time()
    for _ in range(per):
        for s in socks:
            batch = b"".join(b"get k%d\r\n" % rnd.randrange(n) for _ in range(depth))
            s.sendall(batch)
            read_ends(s, depth)
    used = ticks(pid) - t0
    wall = time.time() - w0
    for s in socks:
        s.close()
    done = per * conns * depth
    return used / HZ / done * 1e6, done / wall

def handshakes(port, pid, count):
    t0 = ticks(pid)
    for _ in range(count):
        s = connect(port, True)
        s.sendall(b"version\r\n")
        s.recv(100)
        s.close()
    return (ticks(pid) - t0) / HZ / count * 1e6

def main():
    tls_port, plain_port, pid = map(int, sys.argv[1:4])
    n, reqs, conns, depth, hs = (list(map(int, sys.argv[4:])) + [10000, 200000, 4, 1, 500][len(sys.argv) - 4:])[:5]
    s = connect(plain_port, False)
    for i in range(0, n, 100):
        s.sendall(b"".join(b"set k%d 0 0 32 noreply\r\n%s\r\n" % (j, b"v" * 32) for j in range(i, min(n, i + 100))))
    s.sendall(b"get k0\r\n")
    read_ends(s, 1)
    for tls, port in ((False, plain_port), (True, tls_port), (False, plain_port), (True, tls_port)):
        us, rate = run(port, tls, pid, n, reqs, conns, depth)
        print(f"{'tls  ' if tls else 'plain'} depth {depth} conns {conns}: {us:.2f} us server CPU/request, {rate:,.0f} req/s")
    print(f"handshake (TLS 1.3, server key as given): {handshakes(tls_port, pid, hs):.0f} us server CPU each")

if __name__ == "__main__":
    main()
