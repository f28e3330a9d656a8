#!/usr/bin/env bash
# System calls and context switches per request with both shards working, in
# benches/twoshard.sh's setup: the server -t 2 unpinned (corecached, or Debian's memcached),
# loadgen -t 2 with CONNS connections in all at nice 19, depth 1, 90 % gets, 32 B values,
# 10,000 keys prefilled. `perf stat` counts the server's waits (io_uring_enter or
# epoll_wait), reads, writes and context switches over a 3 s run, divided by the requests
# the server counted (cmd_get + cmd_set from `stats`), and its CPU per request.
# Usage: bash benches/wakeups.sh BIN|memcached [CONNS, 100]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1; conns=${2:-100}; lg=${LG:-target/release/loadgen}
command -v perf >/dev/null || { echo "wakeups.sh: perf is needed" >&2; exit 1; }
out=$(mktemp); trap 'rm -f "$out"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [[ $bin == memcached ]]; then
    /usr/bin/memcached -u nobody -p "$port" -l 127.0.0.1 -t 2 -m 256 -U 0 >/dev/null 2>&1 &
else
    "$bin" -p "$port" -l 127.0.0.1 -t 2 -m 256 >/dev/null 2>&1 &
fi
pid=$!
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.05
done
requests() {
    python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"stats\r\n"); b = b""
while not b.endswith(b"END\r\n"): b += s.recv(65536)
print(sum(int(l.split()[2]) for l in b.decode().splitlines() if l.split()[1:2] in (["cmd_get"], ["cmd_set"])))
PY
}
nice -n 19 "$lg" -s "127.0.0.1:$port" -t 2 -c 4 --key-space 10000 --prefill -n 1 >/dev/null 2>&1
before=$(requests)
nice -n 19 "$lg" -s "127.0.0.1:$port" -t 2 -c "$((conns / 2))" --key-space 10000 --ratio 1:9 \
    --data-size 32 --test-time 3 >/dev/null 2>&1 &
load=$!
perf stat -x, -o "$out" -e 'syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,context-switches,task-clock' -p "$pid" &
stat=$!
wait "$load"
kill -INT "$stat"; wait "$stat" || true
n=$(( $(requests) - before ))
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
printf '%s -t 2, %s connections, %s requests, per request:' "$(basename "$bin")" "$conns" "$n"
awk -F, -v n="$n" '$3 ~ /sys_enter_|context-switches/ && $1 > 0 {sub(/.*sys_enter_/, "", $3); printf " %s %.3f", $3, $1/n}
    $3 == "task-clock" {printf " cpu_us %.2f", $1 * 1000 / n}' "$out"
echo
