#!/usr/bin/env bash
# Where the user-space time of the one-core hop load goes: the server (SHARDS shards, all on
# core 0) under hoptax.sh's pipelined load (loadgen on core 1: 8 connections, depth DEPTH,
# 90 % gets, 32 B values, 100,000 keys prefilled); one second into it, `perf record -e
# cpu-clock:u --call-graph dwarf -C 0` for PS whole seconds (1), while the load lasts PS + 2.
# benches/hopprof.py sorts each sample by its call chain into the server's activities (the
# asker's read, the owner's run of what was handed to it, the runtime's own) and prints
# nanoseconds per request of each, on a VM's sampled clock: attributions, not a stopwatch.
# Run it for 1 and 2 shards to compare.
# KEEP=FILE keeps the perf data there, for `perf report -i FILE`.
# Usage: bash benches/hopprof.sh [SHARDS, 2] [DEPTH, 16]
set -euo pipefail
cd "$(dirname "$0")/.."
shards=${1:-2}
depth=${2:-16}
cc=${CC_BIN:-target/release/corecached}
lg=${LG:-target/release/loadgen}
source benches/lib.sh
tmp=$(mktemp -d)
pid= lpid=
cleanup() { # whatever failed, nothing this script started keeps running
    if [[ -n $lpid ]]; then kill "$lpid" 2>/dev/null || true; fi
    if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
    if [[ -n ${KEEP:-} && -f $tmp/perf.data ]]; then cp "$tmp/perf.data" "$KEEP" || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
secs=${PS:-1}
port=$(free_port)
taskset -c 0 "$cc" -p "$port" -l 127.0.0.1 -t "$shards" -m 256 >/dev/null 2>&1 &
pid=$!
wait_port "$port"
taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c 8 --key-space 100000 --prefill -n 1 >/dev/null 2>&1
taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c 8 --pipeline "$depth" --key-space 100000 \
    --ratio 1:9 --data-size 32 --test-time $((secs + 2)) --json-out "$tmp/lg.json" >/dev/null 2>&1 &
lpid=$!
sleep 1
perf record -e cpu-clock:u -F 9999 --call-graph dwarf,16384 -C 0 -o "$tmp/perf.data" \
    -- sleep "$secs" >/dev/null
wait "$lpid"
lpid=
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
pid=
ops=$(python3 -c "import json; print(json.load(open('$tmp/lg.json'))['ops_per_sec'])")
echo "# -t $shards, depth $depth: $(printf %.0f "$ops") ops/s"
perf script -i "$tmp/perf.data" -F comm,period,ip,sym 2>/dev/null |
    python3 benches/hopprof.py "$ops" "$secs"
