#!/usr/bin/env bash
# Heap allocations per request in the server: `perf` uprobes on libc's malloc, realloc and
# free, counted over 2 s of a 4 s loadgen run (90 % gets, 32 B values, 100,000 keys
# prefilled; the server's shards all pinned to core 0, loadgen on core 1, as
# benches/hoptax.sh). Prints one line: shards, connections, depth, ops/s, then each count
# divided by the requests in that time.
# Usage: bash benches/allocs.sh [SHARDS, 2] [CONNS, 50] [DEPTH, 1]   (CC_BIN: the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
shards=${1:-2}; conns=${2:-50}; depth=${3:-1}
cc=${CC_BIN:-target/release/corecached}; lg=${LG:-target/release/loadgen}
command -v perf >/dev/null || { echo "allocs.sh: perf is needed" >&2; exit 1; }
libc=$(ldd "$cc" | awk '/libc\.so/ {print $3}')
for f in malloc realloc free; do
    perf probe -l 2>/dev/null | grep -q "probe_libc:$f " || perf probe -q -x "$libc" "$f" >/dev/null
done
json=$(mktemp); stat=$(mktemp); trap 'rm -f "$json" "$stat"' EXIT
port=$(free_port)
taskset -c 0 "$cc" -p "$port" -l 127.0.0.1 -t "$shards" -m 256 >/dev/null 2>&1 &
pid=$!
wait_port "$port"
taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c 8 --key-space 100000 --prefill -n 1 >/dev/null 2>&1
taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c "$conns" --pipeline "$depth" --key-space 100000 \
    --ratio 1:9 --data-size 32 --test-time 4 --json-out "$json" >/dev/null 2>&1 &
load=$!
sleep 1
perf stat -x, -o "$stat" -e probe_libc:malloc,probe_libc:realloc,probe_libc:free -p "$pid" -- sleep 2
wait "$load"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
python3 - "$json" "$stat" "$shards" "$conns" "$depth" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); reqs = j['ops_per_sec'] * 2; counts = []
for line in open(sys.argv[2]):
    f = line.strip().split(',')
    if len(f) > 2 and f[0][:1].isdigit():
        counts.append(f"{f[2].split(':')[-1]} {float(f[0]) / reqs:.3f}")
print(f"-t {sys.argv[3]}, {sys.argv[4]} conns, depth {sys.argv[5]}: {j['ops_per_sec']:.0f} ops/s; "
      "per request: " + ", ".join(counts))
PY
