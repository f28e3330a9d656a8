#!/usr/bin/env bash
# One open-loop run at a fixed rate, for one server kind at a time (the caller alternates
# builds and memcached): the server -t 1 pinned to core 0, loadgen -t 1 with 50 connections
# on core 1 at RATE requests/s, 90 % gets, 32 B values, 10,000 keys prefilled, 5 s. The
# server's CPU (`perf stat -e task-clock`), context switches and waits, reads and writes
# are counted over 3 s of it and divided by the requests in that time.
# Usage: bash benches/openloop.sh corecached|memcached RATE   (CC_BIN picks the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?corecached or memcached}; rate=${2:?requests per second}
cc=${CC_BIN:-target/release/corecached}; lg=${LG:-target/release/loadgen}
command -v perf >/dev/null || { echo "openloop.sh: perf is needed" >&2; exit 1; }
json=$(mktemp); stat=$(mktemp); trap 'rm -f "$json" "$stat"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
case $kind in
    corecached) taskset -c 0 "$cc" -p "$port" -l 127.0.0.1 -t 1 -m 256 >/dev/null 2>&1 & ;;
    memcached) taskset -c 0 /usr/bin/memcached -u nobody -p "$port" -l 127.0.0.1 -t 1 -m 256 -U 0 >/dev/null 2>&1 & ;;
    *) echo "openloop.sh: corecached or memcached, not $kind" >&2; exit 1 ;;
esac
pid=$!
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.05
done
taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c 8 --key-space 10000 --prefill -n 1 >/dev/null 2>&1
taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c 50 --key-space 10000 --ratio 1:9 --data-size 32 \
    --test-time 5 --rate "$rate" --json-out "$json" >/dev/null 2>&1 &
load=$!
sleep 1
perf stat -x, -o "$stat" -e 'task-clock,context-switches,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg' -p "$pid" -- sleep 3
wait "$load"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
python3 - "$json" "$stat" "$kind" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); ops = j['ops_per_sec']; parts = []
for line in open(sys.argv[2]):
    f = line.strip().split(',')
    if len(f) < 3 or not f[0][:1].isdigit():
        continue
    v, name = float(f[0]), f[2].split('sys_enter_')[-1]
    if name == 'task-clock':
        parts.insert(0, f"CPU {v * 1000 / 3 / ops:.2f} us/request")
    elif v > 0:
        parts.append(f"{name} {v / 3 / ops:.3f}")
print(f"{sys.argv[3]}: {ops:.0f} ops/s, p50 {j['latency_us']['p50']:.1f} us, " + ", ".join(parts))
PY
