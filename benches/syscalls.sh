#!/usr/bin/env bash
# System calls per request at one connection, depth 1: the server (BIN, or `memcached` for
# Debian's /usr/bin/memcached) with -t SHARDS pinned to core 0, loadgen (1 thread, 1
# connection, 1,000 keys, 90 % gets) on core 1; warms up with 2,000 requests, then counts
# the server's system calls over N requests with `perf stat` tracepoints (far less
# overhead than strace, which slows the server until it never sleeps).
# Usage: bash benches/syscalls.sh BIN|memcached [N] [SHARDS]
bin=$1; n=${2:-20000}; t=${3:-1}; LG=${LG:-target/release/loadgen}
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$bin" = memcached ]; then taskset -c 0 /usr/bin/memcached -u nobody -p $P -l 127.0.0.1 -t $t -U 0 & pid=$!; else taskset -c 0 $bin -p $P -l 127.0.0.1 -t $t & pid=$!; fi
sleep 0.5
taskset -c 1 $LG -s 127.0.0.1:$P -t 1 -c 1 --key-space 1000 -n 2000 >/dev/null 2>&1
perf stat -x, -e 'raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_membarrier,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg' -p $pid -o ${TMPDIR:-/tmp}/perfstat.$$ &
sp=$!; sleep 0.3
taskset -c 1 $LG -s 127.0.0.1:$P -t 1 -c ${CONNS:-1} --key-space 1000 -n $n > ${TMPDIR:-/tmp}/lg.$$ 2>&1
kill -INT $sp; wait $sp; kill -TERM $pid; wait $pid
printf '%s -t %s, %s requests at 1 conn:' "$(basename $bin)" $t $n
awk -F, -v n=$n '$3 ~ /sys_enter/ {split($3,a,":"); printf " %s %.2f", a[2], $1/n}' ${TMPDIR:-/tmp}/perfstat.$$; echo
rm -f ${TMPDIR:-/tmp}/perfstat.$$ ${TMPDIR:-/tmp}/lg.$$
