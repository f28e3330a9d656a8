#!/usr/bin/env bash
# Read cost of many keys per round trip, corecached vs memcached (or two corecached builds):
# each server pinned to SERVER_CORE with -m 1024, filled with KEYS 32-byte values, then driven
# for DURATION s by `loadgen -c 10 --ratio 0:1 --multiget MULTIGET --pipeline PIPELINE` pinned
# to CLIENT_CORE. Reports keys served per second and server CPU per key (utime+stime over the
# server's cmd_get delta), A B A B. MULTIGET=1 PIPELINE=16 measures pipelined single gets.
#
# Run from the repository root after `cargo build --release --workspace`:
#   bash benches/multiget.sh
# Environment (defaults): ROUNDS=3 DURATION=5 KEYS=1000000 MULTIGET=100 PIPELINE=1 THREADS=1
#   SERVER_CORE=0 CLIENT_CORE=1 A="memcached -u root" B=target/release/corecached
# Only processes this script started are stopped.
set -euo pipefail
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
KEYS=${KEYS:-1000000}
MULTIGET=${MULTIGET:-100}
PIPELINE=${PIPELINE:-1}
THREADS=${THREADS:-1}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
TARGET=${CARGO_TARGET_DIR:-target}
A=${A:-memcached -u root}
B=${B:-$TARGET/release/corecached}
LG=${LOADGEN_BIN:-$TARGET/release/loadgen}
[[ -x $LG ]] || { echo "multiget.sh: no loadgen at $LG (cargo build --release --workspace)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
gets() { printf 'stats\r\nquit\r\n' | timeout 5 nc -q1 127.0.0.1 "$1" | tr -d '\r' | awk '$2=="cmd_get"{print $3}'; }

PID=""
trap '[[ -n $PID ]] && kill $PID 2>/dev/null || true' EXIT

run() { # server command line (word-split on purpose)
    local port; port=$(free_port)
    # shellcheck disable=SC2086
    taskset -c "$SERVER_CORE" $1 -t "$THREADS" -m 1024 -c 1024 -p "$port" -l 127.0.0.1 >/dev/null 2>&1 &
    PID=$!
    for _ in $(seq 50); do nc -z 127.0.0.1 "$port" 2>/dev/null && break; sleep 0.1; done
    taskset -c "$CLIENT_CORE" "$LG" -s "127.0.0.1:$port" -t 1 -c 4 --pipeline 8 --ratio 1:0 \
        --data-size 32 --key-space "$KEYS" --key-pattern sequential -n "$KEYS" --quiet >/dev/null
    local t0 g0 t1 g1
    t0=$(ticks $PID); g0=$(gets "$port")
    taskset -c "$CLIENT_CORE" "$LG" -s "127.0.0.1:$port" -t 1 -c 10 --ratio 0:1 \
        --multiget "$MULTIGET" --pipeline "$PIPELINE" --key-space "$KEYS" --test-time "$DURATION" --quiet >/dev/null
    t1=$(ticks $PID); g1=$(gets "$port")
    kill $PID; wait $PID 2>/dev/null || true; PID=""
    python3 -c "g=$g1-$g0; print(f'{g/$DURATION:.0f} {($t1-$t0)/$(getconf CLK_TCK)/max(g,1)*1e6:.3f}')"
}

echo "| round | A keys/s | A us CPU/key | B keys/s | B us CPU/key | CPU ratio B/A |"
echo "|---|---:|---:|---:|---:|---:|"
for r in $(seq "$ROUNDS"); do
    read -r ak ac <<<"$(run "$A")"
    read -r bk bc <<<"$(run "$B")"
    echo "| $r | $ak | $ac | $bk | $bc | $(python3 -c "print(f'{$bc/$ac:.2f}')") |"
done
echo
echo "A = $A, B = $B, -t $THREADS, $KEYS keys, multiget $MULTIGET, pipeline $PIPELINE"
