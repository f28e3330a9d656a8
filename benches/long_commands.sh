#!/usr/bin/env bash
# Get latency on one shard while a long command runs on it: fills a -t 1 server with ITEMS
# small items, then measures open-loop gets with loadgen while, 3 s in, one client runs
# the long command (metadump: `lru_crawler metadump all`, read to the end; flush:
# `flush_all`; cachedump: `stats cachedump 1 0`; twin: the server was started with a twin
# (-x) that is not there yet, and now the twin starts and receives a full copy of ITEMS;
# none: nothing).
#
#   bash benches/long_commands.sh [BIN] [ITEMS] [metadump|flush|cachedump|twin|none] [PORT]
#
# (twin also uses ports PORT+1 to PORT+3.)
#
# PIN=1 runs the server on core 0 and the clients on core 1 (as benches/replication.sh does);
# on a host shared with other work that made every figure worse, so by default nothing is
# pinned.
# READ_MBPS=N makes the dump's reader take at most N MB/s (default: as fast as it can), so
# the run measures how the shard shares itself rather than how the host shares its CPUs.
# Prints the dump's size and time and loadgen's get latency (p99, p99.9, max, in µs).
set -euo pipefail
BIN=${1:-target/release/corecached}
ITEMS=${2:-5000000}
MODE=${3:-metadump}
PORT=${4:-22931}
LOADGEN=${LOADGEN:-target/release/loadgen}
OUT=$(mktemp -d)
ON_SERVER=() ON_CLIENT=()
if [[ ${PIN:-0} == 1 ]]; then
    ON_SERVER=(taskset -c 0) ON_CLIENT=(taskset -c 1)
fi

TWIN_ARGS=() TWIN=""
if [[ $MODE == twin ]]; then
    TWIN_ARGS=(-X $((PORT + 1)) -x "127.0.0.1:$((PORT + 3))")
fi
"${ON_SERVER[@]}" "$BIN" -p "$PORT" -t 1 -m 1500 "${TWIN_ARGS[@]}" >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER $TWIN 2>/dev/null; wait $SERVER $TWIN 2>/dev/null; rm -rf "$OUT"' EXIT
sleep 0.5

"${ON_CLIENT[@]}" "$LOADGEN" -s "127.0.0.1:$PORT" -t 1 -c 8 --pipeline 32 --key-space "$ITEMS" \
    --data-size 10 --ratio 1:0 --prefill --test-time 1 --quiet >/dev/null
rss() { awk '/VmRSS/ {print $2 / 1024 " MB"}' "/proc/$SERVER/status"; }
echo "filled $ITEMS items; server resident $(rss)"

"${ON_CLIENT[@]}" "$LOADGEN" -s "127.0.0.1:$PORT" -t 1 -c 4 --key-space "$ITEMS" --data-size 10 \
    --ratio 0:1 --rate 5000 --test-time 16 --quiet --json-out "$OUT/get.json" >/dev/null &
LOAD=$!
sleep 3
if [[ $MODE == twin ]]; then
    "$BIN" -p $((PORT + 2)) -t 1 -m 1500 -X $((PORT + 3)) -x "127.0.0.1:$((PORT + 1))" \
        >"$OUT/twin.log" 2>&1 &
    TWIN=$!
fi
"${ON_CLIENT[@]}" python3 - "$PORT" "$MODE" "${READ_MBPS:-0}" "$ITEMS" <<'EOF'
import socket, sys, time
port, mode, mbps = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
cmd = {"metadump": b"lru_crawler metadump all\r\n", "flush": b"flush_all\r\n",
       "cachedump": b"stats cachedump 1 0\r\n"}.get(mode)
if mode == "twin":
    t0 = time.time()
    for _ in range(2400):
        try:
            t = socket.create_connection(("127.0.0.1", port + 2))
            t.sendall(b"stats\r\n")
            buf = b""
            while not buf.endswith(b"END\r\n"):
                buf += t.recv(65536)
            n = int(buf.split(b"curr_items ")[1].split(b"\r\n")[0])
            if n >= int(sys.argv[4]):
                break
        except OSError:
            pass
        time.sleep(0.05)
    print(f"twin: {n} items copied {time.time() - t0:.2f} s after the twin started")
if cmd is None:
    sys.exit(0)
s = socket.create_connection(("127.0.0.1", port))
t0 = time.time()
s.sendall(cmd)
total, lines, tail = 0, 0, b""
end = b"OK\r\n" if mode == "flush" else b"END\r\n"
while not tail.endswith(end):
    d = s.recv(1 << 20)
    if not d:
        break
    total += len(d)
    lines += d.count(b"\n")
    if mbps > 0:
        time.sleep(max(0.0, t0 + total / (mbps * 1e6) - time.time()))
    tail = (tail + d)[-8:]
print(f"{mode}: {total} bytes, {lines} lines in {time.time() - t0:.2f} s")
EOF
echo "server resident after: $(rss)"
wait $LOAD
python3 - "$OUT/get.json" <<'EOF'
import json, sys
g = json.load(open(sys.argv[1]))["get"]
l = g["latency_us"]
print(f"gets: {g['ops']} ops, {g['hits']} hits; latency us: p50 {l['p50']} p99 {l['p99']} "
      f"p99.9 {l['p999']} max {l['max']}")
EOF
