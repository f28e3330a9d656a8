#!/usr/bin/env bash
# Server CPU per request under a closed-loop load, for one server kind at a time, so that
# builds and memcached can be run A B C A B C by the caller. Depth 1, 90 % gets, 32 B values,
# 10,000 keys prefilled, a 5 s run; the server's CPU is `perf stat -e task-clock` over 3 s of
# it (seconds 1-4), divided by the requests per second loadgen counted.
#   SHARDS=1: the server `-t 1` pinned to core 0, loadgen `-t 1 -c CONNS` pinned to core 1.
#   SHARDS=2: the server `-t 2` unpinned, loadgen `-t 2` with CONNS in all at nice 19 (as
#             benches/twoshard.sh).
# Prints one line: kind, ops/s, p50 µs, CPUs used, CPU µs per request.
# Usage: bash benches/server_cpu.sh corecached|memcached [CONNS, 4] [SHARDS, 1]
# (PROTO=meta|binary picks loadgen's protocol, text by default; CC_BIN picks the corecached binary; `chrt -f 20 bash benches/server_cpu.sh ...` keeps
# other work on a shared host from preempting the run.)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?corecached or memcached}; conns=${2:-4}; shards=${3:-1}
cc=${CC_BIN:-target/release/corecached}; lg=${LG:-target/release/loadgen}; proto=${PROTO:-text}
command -v perf >/dev/null || { echo "server_cpu.sh: perf is needed" >&2; exit 1; }
json=$(mktemp); trap 'rm -f "$json"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [[ $shards == 1 ]]; then srv=(taskset -c 0); cli=(taskset -c 1); lgt=(-t 1 -c "$conns")
else srv=(); cli=(nice -n 19); lgt=(-t 2 -c "$((conns / 2))"); fi
case $kind in
    corecached) "${srv[@]}" "$cc" -p "$port" -l 127.0.0.1 -t "$shards" -m 256 >/dev/null 2>&1 & ;;
    memcached) "${srv[@]}" /usr/bin/memcached -u nobody -p "$port" -l 127.0.0.1 -t "$shards" -m 256 -U 0 >/dev/null 2>&1 & ;;
    *) echo "server_cpu.sh: corecached or memcached, not $kind" >&2; exit 1 ;;
esac
pid=$!
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.05
done
"${cli[@]}" "$lg" -s "127.0.0.1:$port" -t 1 -c 8 --key-space 10000 --prefill -n 1 >/dev/null 2>&1
"${cli[@]}" "$lg" -s "127.0.0.1:$port" "${lgt[@]}" --key-space 10000 --ratio 1:9 --data-size 32 \
    --protocol "$proto" --test-time 5 --json-out "$json" >/dev/null 2>&1 &
load=$!
sleep 1
cpus=$(perf stat -x, -e task-clock -p "$pid" -- sleep 3 2>&1 >/dev/null | awk -F, '/task-clock/{print $1/3000}')
wait "$load"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
python3 - "$json" "$kind" "$cpus" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); ops = j['ops_per_sec']; cpus = float(sys.argv[3])
print(f"{sys.argv[2]}: {ops:.0f} ops/s, p50 {j['latency_us']['p50']:.1f} us, "
      f"{cpus:.3f} CPUs, {cpus / ops * 1e6:.2f} us CPU/request")
PY
