#!/usr/bin/env bash
# loadgen's acceptance check: against one memcached -t 1 pinned to core 0, does loadgen
# (pinned to core 1) push at least as many requests/s as memcaslap, counted by the server's
# own cmd_get + cmd_set, and does loadgen's own count match the server's?
# Rounds alternate memcaslap / loadgen so machine drift hits both alike.
#
#   bash loadgen/scripts/vs_memcaslap.sh      (ROUNDS=5 DURATION=8 LOADGEN_BIN=... to change)
set -euo pipefail
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
LOADGEN=${LOADGEN_BIN:-${CARGO_TARGET_DIR:-target}/release/loadgen}
[[ -x $LOADGEN ]] || { echo "build loadgen first: cargo build --release -p loadgen" >&2; exit 1; }
command -v memcaslap >/dev/null || { echo "memcaslap missing (apt-get install libmemcached-tools)" >&2; exit 1; }

PORT=""
for _ in $(seq 1 50); do
    p=$((10000 + RANDOM % 22000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { PORT=$p; break; }
done
[[ -n $PORT ]] || { echo "no free port" >&2; exit 1; }
user=(); [[ $(id -u) == 0 ]] && user=(-u root)
taskset -c 0 memcached "${user[@]}" -p "$PORT" -l 127.0.0.1 -t 1 -m 64 &
MC=$!
trap 'kill $MC 2>/dev/null || true; wait $MC 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

ops() {
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'stats\r\nquit\r\n' >&3
    timeout 2 cat <&3 | tr -d '\r' | awk '$2=="cmd_get" || $2=="cmd_set" {s+=$3} END {print s+0}'
    exec 3<&-
}
json=$(mktemp /tmp/vs_memcaslap.XXXXXX.json)
echo "memcached -t 1 on core 0, port $PORT; clients on core 1; ${DURATION}s per run"
for r in $(seq 1 "$ROUNDS"); do
    a=$(ops)
    taskset -c 1 memcaslap -s "127.0.0.1:$PORT" -T 1 -c 50 -X 32 -t "${DURATION}s" >/dev/null 2>&1
    b=$(ops)
    echo "round $r memcaslap: server counted $((b - a)) = $(((b - a) / DURATION)) req/s"
    a=$(ops)
    taskset -c 1 "$LOADGEN" -s "127.0.0.1:$PORT" -t 1 -c 50 --ratio 1:9 --data-size 32 \
        --test-time "$DURATION" --quiet --json-out "$json" >/dev/null
    b=$(ops)
    own=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ops"])' "$json")
    echo "round $r loadgen:   server counted $((b - a)) = $(((b - a) / DURATION)) req/s; loadgen counted $own"
done
rm -f "$json"
