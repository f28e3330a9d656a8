#!/usr/bin/env bash
# The hop tax: server CPU per request at -t 1, 2 and 4 with every shard pinned to core 0
# (so each hop to another shard is a thread switch, the pessimistic price) and loadgen on
# core 1; 90 % gets, 32 B values, 100,000 keys prefilled. Two loads: pipelined (8
# connections, depth 16) and part load (50 connections, depth 1). Runs A B C A B C.
# CPU per request = the server's utime + stime ticks over the run / requests counted; the
# utime part alone follows in brackets (tick-sampled, so rougher).
# CC_PRE, when set, goes before the server's command (e.g. 'chrt -b 0' for SCHED_BATCH);
# CC_ARGS adds corecached flags (e.g. '--spin-before-park-us 30'). SWITCHES=1 also prints,
# per shard thread, how often it slept (voluntary switches) and was preempted (involuntary)
# during the run, from /proc/PID/task/*/status. ONLY=pipelined or ONLY=partload runs one of
# the two loads; DEPTH sets the pipelined load's depth (16).
# Usage: bash benches/hoptax.sh [SECS per run, 4] [ROUNDS, 2]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-4}
rounds=${2:-2}
case ${ONLY:-} in '' | pipelined | partload) ;; *) echo "hoptax.sh: ONLY=pipelined or partload" >&2; exit 2 ;; esac
cc=${CC_BIN:-target/release/corecached}
lg=${LG:-target/release/loadgen}
source benches/lib.sh
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
uticks() { awk '{print $14}' "/proc/$1/stat"; }
json=$(mktemp)
trap 'rm -f "$json" "$json".sw[01]' EXIT

run() { # shards conns depth
    local port pid t0 t1 u0 u1
    port=$(free_port)
    ${CC_PRE:-} taskset -c 0 "$cc" -p "$port" -l 127.0.0.1 -t "$1" -m 256 ${CC_ARGS:-} >/dev/null 2>&1 &
    pid=$!
    wait_port "$port"
    taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c 8 --key-space 100000 --prefill -n 1 >/dev/null 2>&1
    [[ ${SWITCHES:-} == 1 ]] && switches "$pid" >"$json.sw0"
    t0=$(ticks "$pid"); u0=$(uticks "$pid")
    taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c "$2" --pipeline "$3" --key-space 100000 \
        --ratio 1:9 --data-size 32 --test-time "$secs" --json-out "$json" >/dev/null 2>&1
    t1=$(ticks "$pid"); u1=$(uticks "$pid")
    [[ ${SWITCHES:-} == 1 ]] && switches "$pid" >"$json.sw1"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    python3 -c "
import json; j = json.load(open('$json'))
print(f'-t $1, $2 conns, depth $3: {j[\"ops_per_sec\"]:.0f} ops/s, p50 {j[\"latency_us\"][\"p50\"]:.0f} us, p99 {j[\"latency_us\"][\"p99\"]:.0f} us, server CPU {($t1 - $t0) / $(getconf CLK_TCK) * 1e6 / j[\"ops\"]:.2f} us/request (user {($u1 - $u0) / $(getconf CLK_TCK) * 1e6 / j[\"ops\"]:.2f})')"
    if [[ ${SWITCHES:-} == 1 ]]; then
        ops=$(python3 -c "import json; print(json.load(open('$json'))['ops'])")
        paste "$json.sw0" "$json.sw1" | awk -v ops="$ops" '$1 ~ /^shard/ && $5 + $6 > $2 + $3 {
            printf "    %s: %d sleeps, %d preemptions (%d requests in all)\n", $1, $5 - $2, $6 - $3, ops }'
    fi
}

switches() { # pid: thread name, voluntary and involuntary switches, one line per thread
    for t in /proc/"$1"/task/*; do
        echo "$(cat "$t/comm") $(awk '/^(non)?voluntary_ctxt_switches/ {printf "%s ", $2}' "$t/status")"
    done
}

echo "# hoptax: $secs s per run, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$rounds"); do
    if [[ ${ONLY:-pipelined} == pipelined ]]; then for t in 1 2 4; do run "$t" 8 "${DEPTH:-16}"; done; fi
    if [[ ${ONLY:-partload} == partload ]]; then for t in 1 2 4; do run "$t" 50 1; done; fi
done
