#!/usr/bin/env bash
# Server CPU time per request, corecached -t 1 vs memcached -t 1, each pinned to core 0 and
# driven by memcaslap pinned to core 1 (issue: "server CPU time per request").
# Usage: benches/cpu_per_request.sh [seconds] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
rounds=${2:-3}
cargo build --release -q --bin corecached
command -v memcaslap >/dev/null || { echo "needs memcaslap (apt-get install libmemcached-tools)"; exit 1; }
command -v memcached >/dev/null || { echo "needs memcached (apt-get install memcached)"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
stat_of() { printf 'stats\r\nquit\r\n' | timeout 5 nc -q1 127.0.0.1 "$1" 2>/dev/null | tr -d '\r' | awk -v k="$2" '$2==k{print $3}'; }
ops() { echo $(( $(stat_of "$1" cmd_get) + $(stat_of "$1" cmd_set) )); }

measure() { # name cmd...
  local name=$1; shift
  local port; port=$(free_port)
  taskset -c 0 "$@" -p "$port" -l 127.0.0.1 >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do nc -z 127.0.0.1 "$port" 2>/dev/null && break; sleep 0.1; done
  local t0 o0 t1 o1
  t0=$(ticks $pid); o0=$(ops "$port")
  taskset -c 1 memcaslap -s "127.0.0.1:$port" -T 1 -c 50 -t "${secs}s" -X 32 >/dev/null 2>&1 || true
  t1=$(ticks $pid); o1=$(ops "$port")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local hz; hz=$(getconf CLK_TCK)
  python3 -c "t=($t1-$t0)/$hz; o=$o1-$o0; print(f'$name: {o} requests in ${secs}s = {o/$secs:.0f}/s, server cpu {t:.2f}s, {t/o*1e6:.2f} us/request')"
}

for r in $(seq "$rounds"); do
  echo "round $r"
  measure memcached memcached -u root -t 1 -m 64
  measure corecached target/release/corecached -t 1 -m 64
done
