#!/usr/bin/env bash
# Idle CPU and SIGTERM exit time of one corecached server: starts it with -t SHARDS on a free
# loopback port, waits 2 s, counts its CPU ticks (utime + stime, 100 per second) over 5 idle
# seconds, sends SIGTERM and times the exit (gives up after 10 s and kills it).
# Usage: bash benches/idle_and_stop.sh SHARDS [BINARY] [ROUNDS]
set -euo pipefail
shards=${1:?usage: idle_and_stop.sh SHARDS [BINARY] [ROUNDS]}
bin=${2:-target/release/corecached}
rounds=${3:-1}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for r in $(seq "$rounds"); do
    "$bin" -p "$(port)" -l 127.0.0.1 -t "$shards" &
    pid=$!
    sleep 2
    a=$(ticks "$pid"); sleep 5; b=$(ticks "$pid")
    start=$(date +%s.%N)
    kill -TERM "$pid"
    for _ in $(seq 500); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
    end=$(date +%s.%N)
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"; state="still running, killed"
    else
        state="exited"
    fi
    wait "$pid" 2>/dev/null || true
    printf 't=%s round %s: idle %s ticks in 5 s; after SIGTERM %s in %.2f s\n' \
        "$shards" "$r" "$((b - a))" "$state" "$(echo "$end - $start" | bc)"
done
