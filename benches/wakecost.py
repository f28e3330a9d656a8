#!/usr/bin/env python3
"""What a send costs its sender when it wakes a reader asleep on another CPU.

One process pinned to CPU 0 sends a byte over a unix socket pair to a reader pinned to
CPU 1 and waits for its one-byte answer, N times. The reader either sleeps in epoll_wait
between messages (a blocked client, as loadgen is while a server works) or polls the socket
without sleeping. Prints the sender's time in send() for each, p50 and p90 in ns: the
difference is the price of waking a CPU that went idle, which on a virtual machine is an
inter-processor interrupt through the hypervisor. Python's own overhead is in both.
With GAPS (microseconds, comma-separated) it measures only the sleeping reader, once per
gap, the sender spinning that long before each send: whether the price depends on how long
the reader slept.
Usage: python3 benches/wakecost.py [N, 2000] [GAPS]
"""
import os
import select
import socket
import sys
import time


def reader(sock, sleeps):
    os.sched_setaffinity(0, {1})
    if sleeps:
        ep = select.epoll()
        ep.register(sock.fileno(), select.EPOLLIN)
    else:
        sock.setblocking(False)
    while True:
        if sleeps:
            ep.poll()
        try:
            data = sock.recv(16)
        except BlockingIOError:
            continue
        if data == b"q":
            os._exit(0)
        sock.send(b"k")


def measure(n, sleeps, gap_us=0):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        a.close()
        reader(b, sleeps)
    b.close()
    os.sched_setaffinity(0, {0})
    took = []
    for _ in range(n):
        until = time.perf_counter_ns() + gap_us * 1000
        while time.perf_counter_ns() < until:
            pass
        t0 = time.perf_counter_ns()
        a.send(b"x")
        took.append(time.perf_counter_ns() - t0)
        a.recv(16)
    a.send(b"q")
    os.waitpid(pid, 0)
    took.sort()
    return took[len(took) // 2], took[len(took) * 9 // 10]


def main():
    if len(os.sched_getaffinity(0)) < 2 or not {0, 1} <= os.sched_getaffinity(0):
        sys.exit("wakecost.py: needs CPUs 0 and 1")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    if len(sys.argv) > 2:
        for gap in (int(g) for g in sys.argv[2].split(",")):
            p50, p90 = measure(n, True, gap)
            print(f"reader asleep, sender spins {gap} us before each send: send() p50 {p50} ns, p90 {p90} ns")
        return
    for sleeps, what in ((True, "reader asleep in epoll_wait"), (False, "reader polling")):
        p50, p90 = measure(n, sleeps)
        print(f"{what}: send() p50 {p50} ns, p90 {p90} ns")


if __name__ == "__main__":
    main()
