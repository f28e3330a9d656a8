#!/usr/bin/env bash
# Does a shard keep answering while a long command runs on it? Fills a -t 1 server with
# ITEMS small items, starts 4 connections that each send `get` after `get` (closed loop),
# then runs the long command and reports how many gets were answered between the command's
# start and its end, and the longest any prober waited in that window. Unlike a latency
# percentile from an open-loop load, the count does not depend on the load generator being
# scheduled on time, which on a busy shared host it is not.
#
#   bash benches/probe_during.sh [BIN] [ITEMS] [metadump|twin|none] [PORT]
#
# none: the window is 3 s with nothing running, the host's own noise floor.
# metadump: one client reads `lru_crawler metadump all` to its END. twin: the server was
# started with a twin (-x) that is not there yet; the twin starts and the window ends when
# it holds ITEMS items (its `stats` polled every 50 ms). twin also uses ports PORT+1..+3.
set -euo pipefail
BIN=${1:-target/release/corecached}
ITEMS=${2:-5000000}
MODE=${3:-metadump}
PORT=${4:-22971}
LOADGEN=${LOADGEN:-target/release/loadgen}

TWIN_ARGS=()
if [[ $MODE == twin ]]; then
    TWIN_ARGS=(-X $((PORT + 1)) -x "127.0.0.1:$((PORT + 3))")
fi
"$BIN" -p "$PORT" -t 1 -m 1500 "${TWIN_ARGS[@]}" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
sleep 0.5
"$LOADGEN" -s "127.0.0.1:$PORT" -t 1 -c 8 --pipeline 32 --key-space "$ITEMS" \
    --data-size 10 --ratio 1:0 --prefill --test-time 1 --quiet >/dev/null

python3 - "$PORT" "$MODE" "$ITEMS" "$BIN" <<'EOF'
import socket, subprocess, sys, threading, time
port, mode, items, binary = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
stop, window, res = threading.Event(), {}, []

def prober(i):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    count, worst, last = 0, 0.0, time.time()
    while not stop.is_set():
        s.sendall(b"get key:%d\r\n" % (i * 7919))
        buf = b""
        while not buf.endswith(b"END\r\n"):
            buf += s.recv(4096)
        now = time.time()
        if "start" in window and "end" not in window:
            worst = max(worst, now - max(last, window["start"]))
            count += 1
        last = now
    res.append((count, worst))

def stats_items(p):
    t = socket.create_connection(("127.0.0.1", p))
    t.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        buf += t.recv(65536)
    return int(buf.split(b"curr_items ")[1].split(b"\r\n")[0])

threads = [threading.Thread(target=prober, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
time.sleep(0.5)
window["start"] = time.time()
what = ""
if mode == "metadump":
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"lru_crawler metadump all\r\n")
    total, tail = 0, b""
    while not tail.endswith(b"END\r\n"):
        d = s.recv(1 << 20)
        total += len(d)
        tail = (tail + d)[-8:]
    what = f"metadump of {total} bytes"
elif mode == "none":
    time.sleep(3)
    what = "nothing"
else:
    twin = subprocess.Popen([binary, "-p", str(port + 2), "-t", "1", "-m", "1500",
                             "-X", str(port + 3), "-x", f"127.0.0.1:{port + 1}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    copied = 0
    for _ in range(2400):
        time.sleep(0.05)
        try:
            copied = stats_items(port + 2)
        except (OSError, IndexError):
            continue
        if copied >= items:
            break
    what = f"full copy of {copied} items to a new twin"
window["end"] = time.time()
time.sleep(0.2)
stop.set()
for t in threads:
    t.join()
if mode == "twin":
    twin.kill()
    twin.wait()
print(f"{what}: {window['end'] - window['start']:.2f} s; meanwhile 4 probers got "
      f"{sum(c for c, _ in res)} answers, longest wait {max(w for _, w in res) * 1000:.1f} ms")
EOF
