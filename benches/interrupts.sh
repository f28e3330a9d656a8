#!/usr/bin/env bash
# Interrupts behind the one-core hop tax: hoptax.sh's pipelined load (the server's shards all
# on core 0, loadgen on core 1, 8 connections at depth 16, 90 % gets, 32 B values, 100,000
# keys prefilled) at -t SHARDS, one run, with the server's CPU per request and, per 1,000
# requests, the interrupts each core took over the run (/proc/interrupts): CAL (function
# calls, which wake a task on a CPU that was idle), RES (reschedules, which preempt the
# task running there) and LOC (local timer). CAL on core 1 counts the server's wakes of an
# idle loadgen, CAL on core 0 loadgen's wakes of an idle server, RES on core 0 a woken shard
# preempting the one that runs. On this VM each of those costs its sender microseconds
# (docs/scaling.md).
# CC_BIN picks the build, CC_PRE goes before the server's command, CC_ARGS after it.
# Usage: bash benches/interrupts.sh [SHARDS, 2] [SECS, 3] [DEPTH, 16]
set -euo pipefail
cd "$(dirname "$0")/.."
shards=${1:-2}
secs=${2:-3}
depth=${3:-16}
cc=${CC_BIN:-target/release/corecached}
lg=${LG:-target/release/loadgen}
source benches/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

snap() { grep -E '^ *(CAL|RES|LOC):' /proc/interrupts | awk '{print $1, $2, $3}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

port=$(free_port)
${CC_PRE:-} taskset -c 0 "$cc" -p "$port" -l 127.0.0.1 -t "$shards" -m 256 ${CC_ARGS:-} >/dev/null 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
wait_port "$port"
taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c 8 --key-space 100000 --prefill -n 1 >/dev/null 2>&1
t0=$(ticks "$pid")
snap >"$tmp/before"
taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c 8 --pipeline "$depth" --key-space 100000 \
    --ratio 1:9 --data-size 32 --test-time "$secs" --json-out "$tmp/run.json" >/dev/null 2>&1
snap >"$tmp/after"
t1=$(ticks "$pid")
python3 - "$tmp" "$shards" "$depth" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
tmp, shards, depth, t0, t1, hz = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:])
j = json.load(open(f"{tmp}/run.json"))
ops = j["ops"]
read = lambda f: {l.split()[0].rstrip(":"): list(map(int, l.split()[1:])) for l in open(f)}
a, b = read(f"{tmp}/before"), read(f"{tmp}/after")
per = " ".join(f"{k}{c} {(b[k][c] - a[k][c]) / ops * 1000:.2f}" for k in ("CAL", "RES", "LOC") for c in (0, 1))
print(f"-t {shards}, depth {depth}: {j['ops_per_sec'] / 1e3:.0f} k ops/s, server CPU "
      f"{(t1 - t0) / hz * 1e6 / ops:.2f} us/request; per 1,000 requests: {per}")
PY
