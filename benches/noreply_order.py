#!/usr/bin/env python3
"""How often a new connection's requests are read before an old connection's last noreply one.

Each round: connection A sends `flush_all 0 noreply` and closes; connection B then sends
`flush_all 0 noreply`, `set key 1 0 N noreply` and `get key`. If A's flush is read after B's
set, the get misses. memcached's single acceptor almost always reads A first; corecached's
shards accept on their own (docs/protocol.md, "Known difference in timing").

    python3 benches/noreply_order.py PORT [ROUNDS]      # default 3000 rounds

Prints the number of rounds whose get missed. Only talks to the given port on 127.0.0.1.
"""
import socket
import sys


def main():
    port = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    value = b'{"a": "b", "c": ["d"]}'
    missed = 0
    for _ in range(rounds):
        a = socket.create_connection(("127.0.0.1", port))
        a.sendall(b"flush_all 0 noreply\r\n")
        a.close()
        b = socket.create_connection(("127.0.0.1", port))
        b.settimeout(5)
        b.sendall(b"flush_all 0 noreply\r\n")
        b.sendall(b"set key 1 0 %d noreply\r\n%s\r\n" % (len(value), value))
        b.sendall(b"get key\r\n")
        got = b""
        while not got.endswith(b"END\r\n"):
            chunk = b.recv(4096)
            if not chunk:
                break
            got += chunk
        if b"VALUE" not in got:
            missed += 1
        b.close()
    print(f"{missed} of {rounds} gets missed")


if __name__ == "__main__":
    main()
