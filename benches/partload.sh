#!/usr/bin/env bash
# Part load, corecached against Debian's memcached (issue 11): both -t 1 pinned to core 0,
# loadgen pinned to core 1, 90 % gets, 32 B values, 10,000 keys (prefilled), alternating
# A B A B. Prints a markdown table of medians per configuration:
#   - closed loop at 1, 4, 16 and 50 connections, depth 1;
#   - open loop at 10, 25, 50 and 75 % of memcached's closed-loop maximum (50 connections);
#   - ops/s, p50 and p99 (loadgen's JSON), server CPU per request (utime + stime ticks of the
#     server process over the measured run, divided by the requests loadgen counted);
# then system calls per request at one connection (benches/syscalls.sh) and idle CPU of
# -t 1, 4 and 16 servers of both kinds over IDLE_SECS seconds (all six started together).
# Usage: bash benches/partload.sh [SECS per run, 4] [ROUNDS, 2] [IDLE_SECS, 60]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-4}
rounds=${2:-2}
idle_secs=${3:-60}
cc=${CC_BIN:-target/release/corecached}
lg=${LG:-target/release/loadgen}
mc=/usr/bin/memcached
raw=$(mktemp)
trap 'rm -f "$raw" "$raw".json' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start() { # kind port shards -> pid
    case $1 in
        corecached) taskset -c 0 "$cc" -p "$2" -l 127.0.0.1 -t "$3" -m 64 >/dev/null 2>&1 & ;;
        memcached) taskset -c 0 "$mc" -u nobody -p "$2" -l 127.0.0.1 -t "$3" -m 64 -U 0 >/dev/null 2>&1 & ;;
    esac
    local pid=$!
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $2), 0.2)" 2>/dev/null && break
        sleep 0.05
    done
    echo "$pid"
}

# One measured run: kind conns rate(0 = closed loop) label -> a line in $raw.
run() {
    local kind=$1 conns=$2 rate=$3 label=$4 port pid t0 t1
    port=$(free_port)
    pid=$(start "$kind" "$port" 1)
    taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c 1 --key-space 10000 --prefill -n 1 >/dev/null 2>&1
    local rate_arg=()
    [ "$rate" -gt 0 ] && rate_arg=(--rate "$rate")
    t0=$(ticks "$pid")
    taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c "$conns" --key-space 10000 --ratio 1:9 \
        --data-size 32 --test-time "$secs" "${rate_arg[@]}" --json-out "$raw.json" >/dev/null 2>&1
    t1=$(ticks "$pid")
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$raw.json" "$kind" "$label" "$((t1 - t0))" "$(getconf CLK_TCK)" >>"$raw" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
kind, label, ticks, hz = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
lat = j["latency_us"]
cpu_us = ticks / hz * 1e6 / max(j["ops"], 1)
print(f'{label}\t{kind}\t{j["ops_per_sec"]:.0f}\t{lat["p50"]:.1f}\t{lat["p99"]:.1f}\t{cpu_us:.2f}')
PY
}

ab() { # conns rate label
    for _ in $(seq "$rounds"); do
        run corecached "$1" "$2" "$3"
        run memcached "$1" "$2" "$3"
    done
}

echo "# partload: $secs s per run, $rounds rounds A B A B, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for c in 1 4 16 50; do ab "$c" 0 "closed $c conns"; done
max=$(awk -F'\t' '$1 == "closed 50 conns" && $2 == "memcached" {print $3}' "$raw" | sort -n |
    awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
for pct in 10 25 50 75; do ab 50 "$((max * pct / 100))" "open $pct % ($((max * pct / 100))/s)"; done

python3 - "$raw" <<'PY'
import sys, statistics as st
rows = {}
order = []
for line in open(sys.argv[1]):
    label, kind, ops, p50, p99, cpu = line.rstrip("\n").split("\t")
    if label not in rows:
        order.append(label)
    rows.setdefault(label, {}).setdefault(kind, []).append(tuple(map(float, (ops, p50, p99, cpu))))
print("| load | server | ops/s | p50 us | p99 us | CPU us/request | CPU ratio | p50 ratio |")
print("|---|---|---|---|---|---|---|---|")
for label in order:
    med = {k: [st.median(x[i] for x in v) for i in range(4)] for k, v in rows[label].items()}
    for kind in ("corecached", "memcached"):
        m = med[kind]
        ratio = ("%.2f" % (m[3] / med["memcached"][3]), "%.2f" % (m[1] / med["memcached"][1])) if kind == "corecached" else ("", "")
        print(f"| {label} | {kind} | {m[0]:.0f} | {m[1]:.1f} | {m[2]:.1f} | {m[3]:.2f} | {ratio[0]} | {ratio[1]} |")
PY

echo
echo "system calls per request at 1 connection (benches/syscalls.sh, 20000 requests):"
for kind in "$cc" memcached "$cc" memcached; do bash benches/syscalls.sh "$kind" 20000 1; done

echo
echo "idle CPU over $idle_secs s (ticks of 1/$(getconf CLK_TCK) s; all six servers at once):"
pids=()
names=()
for t in 1 4 16; do
    for kind in corecached memcached; do
        pids+=("$(start "$kind" "$(free_port)" "$t")")
        names+=("$kind -t $t")
    done
done
sleep 2
before=()
for p in "${pids[@]}"; do before+=("$(ticks "$p")"); done
sleep "$idle_secs"
for i in "${!pids[@]}"; do
    d=$(($(ticks "${pids[$i]}") - ${before[$i]}))
    printf '  %-16s %4d ticks = %s %% of a core\n' "${names[$i]}" "$d" \
        "$(python3 -c "print(round($d / $(getconf CLK_TCK) / $idle_secs * 100, 3))")"
    kill -TERM "${pids[$i]}"
done
wait 2>/dev/null || true
