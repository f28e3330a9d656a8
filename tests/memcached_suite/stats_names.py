#!/usr/bin/env python3
"""Lists the stats names Debian's memcached 1.6.18 prints (plain `stats`, `stats settings`,
`stats items`, `stats slabs`, `stats conns`), each with whether corecached prints it too:
both servers run with their defaults, hold one item that was read once, and each keeps one
connection open. Per-class and per-connection numbers become N. `--markdown` prints the
rows docs/protocol.md's "stats names" tables were made from; without it, a summary, and
the exit status is 1 if memcached prints a name corecached does not (tests/stats_names.rs
checks the same in CI).

usage: stats_names.py [--markdown] [CORECACHED_BIN]"""

import re
import socket
import subprocess
import sys
import time

SECTIONS = ["", "settings", "items", "slabs", "conns"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv):
    port = free_port()
    proc = subprocess.Popen(argv + ["-p", str(port), "-l", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            return proc, socket.create_connection(("127.0.0.1", port))
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{argv[0]} did not start")


def ask(sock, cmd):
    sock.sendall(cmd)
    out = b""
    while not out.endswith(b"END\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
    return out.decode()


def names(sock, section):
    text = ask(sock, (f"stats {section}" if section else "stats").encode() + b"\r\n")
    seen = []
    for line in text.splitlines():
        if not line.startswith("STAT "):
            continue
        name = line.split(" ")[1]
        name = re.sub(r"^items:\d+:", "items:N:", name)
        name = re.sub(r"^\d+:", "N:", name)
        if name not in seen:
            seen.append(name)
    return seen


def main():
    args = [a for a in sys.argv[1:] if a != "--markdown"]
    markdown = "--markdown" in sys.argv[1:]
    ours = args[0] if args else "target/release/corecached"
    servers = [start(["/usr/bin/memcached", "-u", "root", "-U", "0"]), start([ours, "-t", "2"])]
    try:
        for _, sock in servers:
            ask(sock, b"set a 0 0 1\r\n1\r\nget a\r\n")
        missing = 0
        for section in SECTIONS:
            theirs = names(servers[0][1], section)
            here = names(servers[1][1], section)
            title = f"stats {section}".strip()
            lost = [n for n in theirs if n not in here]
            missing += len(lost)
            if markdown:
                print(f"\n{title}:\n")
                for n in theirs:
                    print(f"| `{n}` | {'yes' if n in here else 'no'} |")
                for n in (n for n in here if n not in theirs):
                    print(f"| `{n}` | ours only |")
            else:
                print(f"{title}: memcached {len(theirs)}, corecached {len(here)}, "
                      f"missing here {lost}, ours only {[n for n in here if n not in theirs]}")
        return 1 if missing and not markdown else 0
    finally:
        for proc, sock in servers:
            sock.close()
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
