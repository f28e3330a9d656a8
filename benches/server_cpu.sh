#!/usr/bin/env bash
# Server CPU per request under load, for one server kind at a time, so that builds and
# memcached can be run A B C A B C by the caller. Depth 1, 90 % gets, 32 B values, 10,000
# keys prefilled, a 5 s run, closed loop (or open loop at RATE requests/s). Over 3 s of it
# (seconds 1-4) the server's CPU time is the kernel's own count of its threads' run time
# (/proc/PID/task/*/schedstat, the count utime + stime are made from), and with COUNTS=1
# `perf stat` counts its context switches and its waits (`io_uring_enter` or
# `epoll_wait`), reads and writes (its syscall tracepoints add to the CPU time of both
# servers); each is divided by the requests in that time (loadgen's ops/s). perf's own
# task-clock is not used: on this VM it misses part of a thread's run time, about 31 % of
# corecached's and 13 % of memcached's at one connection (docs/benchmarks.md).
#   SHARDS=1: the server `-t 1` pinned to core 0, loadgen `-t 1 -c CONNS` pinned to core 1.
#   SHARDS=2: the server `-t 2` unpinned, loadgen `-t 2` with CONNS in all at nice 19 (as
#             benches/twoshard.sh).
# Prints one line: kind, ops/s, p50 µs, CPUs used, CPU µs per request, then the counts per
# request.
# Usage: bash benches/server_cpu.sh corecached|memcached [CONNS, 4] [SHARDS, 1]
# Environment: CC_BIN (the corecached binary), CC_ARGS (more corecached flags), PROTO
# (text, meta or binary for loadgen), RATE (open loop), COUNTS (the perf counts). `chrt -f 20 bash
# benches/server_cpu.sh ...` keeps other work on a shared host from preempting the run.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
kind=${1:?corecached or memcached}; conns=${2:-4}; shards=${3:-1}
cc=${CC_BIN:-target/release/corecached}; lg=${LG:-target/release/loadgen}; proto=${PROTO:-text}
read -r -a cc_args <<<"${CC_ARGS:-}"
rate=(); [[ -n ${RATE:-} ]] && rate=(--rate "$RATE")
[[ -z ${COUNTS:-} ]] || command -v perf >/dev/null || { echo "server_cpu.sh: perf is needed" >&2; exit 1; }
json=$(mktemp); stat=$(mktemp); : >"$stat"; trap 'rm -f "$json" "$stat"' EXIT
port=$(free_port)
if [[ $shards == 1 ]]; then srv=(taskset -c 0); cli=(taskset -c 1); lgt=(-t 1 -c "$conns")
else srv=(); cli=(nice -n 19); lgt=(-t 2 -c "$((conns / 2))"); fi
case $kind in
    corecached) "${srv[@]}" "$cc" -p "$port" -l 127.0.0.1 -t "$shards" -m 256 "${cc_args[@]}" >/dev/null 2>&1 & ;;
    memcached) "${srv[@]}" /usr/bin/memcached -u nobody -p "$port" -l 127.0.0.1 -t "$shards" -m 256 -U 0 >/dev/null 2>&1 & ;;
    *) echo "server_cpu.sh: corecached or memcached, not $kind" >&2; exit 1 ;;
esac
pid=$!
wait_port "$port"
"${cli[@]}" "$lg" -s "127.0.0.1:$port" -t 1 -c 8 --key-space 10000 --prefill -n 1 >/dev/null 2>&1
"${cli[@]}" "$lg" -s "127.0.0.1:$port" "${lgt[@]}" --key-space 10000 --ratio 1:9 --data-size 32 \
    --protocol "$proto" "${rate[@]}" --test-time 5 --json-out "$json" >/dev/null 2>&1 &
load=$!
sleep 1
runtime() { cat /proc/"$pid"/task/*/schedstat | awk '{ns += $1} END {printf "%.0f\n", ns}'; }
ns0=$(runtime); t0=$(date +%s%N)
if [[ -n ${COUNTS:-} ]]; then
    perf stat -x, -o "$stat" -e 'context-switches,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg' -p "$pid" -- sleep 3
else
    sleep 3
fi
ns1=$(runtime); t1=$(date +%s%N)
wait "$load"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
python3 - "$json" "$kind" "$stat" "$((ns1 - ns0))" "$((t1 - t0))" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); ops = j['ops_per_sec']; cpus = int(sys.argv[4]) / int(sys.argv[5])
counts = []
for line in open(sys.argv[3]):
    f = line.strip().split(',')
    if len(f) < 3 or not f[0][:1].isdigit():
        continue
    v, name = float(f[0]), f[2].split('sys_enter_')[-1]
    if v > 0:
        counts.append(f"{name} {v / 3 / ops:.3f}")
print(f"{sys.argv[2]}: {ops:.0f} ops/s, p50 {j['latency_us']['p50']:.1f} us, "
      f"{cpus:.3f} CPUs, {cpus / ops * 1e6:.2f} us CPU/request; per request: " + ", ".join(counts))
PY
