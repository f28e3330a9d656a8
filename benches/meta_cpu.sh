#!/usr/bin/env bash
# Server CPU per operation of one loadgen run: `bash benches/meta_cpu.sh PID PORT text|meta`
# reads the server's utime+stime (clock ticks, /proc/PID/stat) around 400,000 operations
# (1:9 set:get, 20 connections, pipeline 8, 100,000 keys, --verify) and prints microseconds
# per op. CPU time rather than ops/s, because wall-clock rates on a shared machine swing
# by a factor of four between identical runs. Prefill the keys first.
set -euo pipefail
pid=$1; port=$2; proto=$3
t0=$(awk '{print $14+$15}' /proc/$pid/stat)
out=$(taskset -c 1 "$(dirname "$0")/../target/release/loadgen" -s 127.0.0.1:$port -t 1 -c 20 --pipeline 8 --ratio 1:9 --key-space 100000 --verify -n 400000 --warmup 0 --protocol $proto --quiet 2>&1)
t1=$(awk '{print $14+$15}' /proc/$pid/stat)
ops=$(echo "$out" | awk '/^ops /{print $2}')
mm=$(echo "$out" | awk '/mismatches/{print $NF}')
echo "$proto ops=$ops ticks=$((t1-t0)) us/op=$(echo "scale=3; ($t1-$t0)*10000/$ops" | bc) mismatches=$mm"
