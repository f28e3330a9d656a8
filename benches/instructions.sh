#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind: a count, not a
# time, so it is the same on a busy host as on a quiet one, and small changes to the
# event loop or the request path show up that a CPU-time ratio on this VM hides in its
# noise. One server kind at a time (-t 1; -t 2 does not start under valgrind, whose
# threads take turns), 90 % gets, 32 B values, 10,000 keys prefilled. Counting starts
# after the prefill and a 2,000-request warm-up (`callgrind_control -z`) and stops after
# N requests (`-d`), so it covers the server's threads over exactly those N requests.
# Open loop at RATE requests/s (default 500): slow enough that the server sleeps
# between requests, as it does at one connection without valgrind; RATE= (empty) runs
# closed loop, where how often it sleeps depends on how slow valgrind makes it.
# memcached refuses to start under valgrind (its setrlimit call is refused), so for it a
# two-line shim that lets setrlimit succeed is built with gcc and preloaded.
# Prints: kind, instructions per request, sleeps (io_uring_enter waits for corecached)
# per request where it can tell, and clock reads per request.
# Usage: bash benches/instructions.sh corecached|memcached [CONNS, 1] [N, 5000]
# Environment: CC_BIN (the corecached binary), RATE, CC_ARGS (more corecached flags; for
# example `--tick-hold-us 0`: at 500 requests/s the 2 ms tick hold fires between requests,
# a timer lap the server would not make at one connection's real rate), KEEP=1 (keep
# the callgrind output and print where it is).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
kind=${1:?corecached or memcached}; conns=${2:-1}; n=${3:-5000}; rate=${RATE-500}
cc=${CC_BIN:-target/release/corecached}; lg=${LG:-target/release/loadgen}
for tool in valgrind callgrind_control callgrind_annotate; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is needed (apt-get install valgrind)" >&2; exit 1; }
done
dir=$(mktemp -d)
if [[ ${KEEP:-} == 1 ]]; then echo "instructions.sh: callgrind output in $dir" >&2; else trap 'rm -rf "$dir"' EXIT; fi
port=$(free_port)
vg=(valgrind --tool=callgrind "--callgrind-out-file=$dir/out.%p")
case $kind in
    corecached) "${vg[@]}" "$cc" -p "$port" -l 127.0.0.1 -t 1 -m 64 ${CC_ARGS:-} >"$dir/log" 2>&1 & ;;
    memcached)
        printf '#include <sys/resource.h>\nint setrlimit(__rlimit_resource_t r, const struct rlimit *l) { (void)r; (void)l; return 0; }\n' >"$dir/shim.c"
        gcc -shared -fPIC -o "$dir/shim.so" "$dir/shim.c"
        LD_PRELOAD="$dir/shim.so" "${vg[@]}" /usr/bin/memcached -u root -p "$port" -l 127.0.0.1 -t 1 -m 64 -U 0 -c 256 >"$dir/log" 2>&1 & ;;
    *) echo "instructions.sh: corecached or memcached, not $kind" >&2; exit 1 ;;
esac
pid=$!
for _ in 1 2 3 4; do wait_port "$port" && break; done
load() { "$lg" -s "127.0.0.1:$port" --key-space 10000 "$@" >/dev/null 2>&1; }
load -t 1 -c 8 --prefill -n 1
load -t 1 -c "$conns" --ratio 1:9 --data-size 32 -n 2000
callgrind_control -z "$pid" >/dev/null 2>&1
rate_args=(); [[ -n $rate ]] && rate_args=(--rate "$rate")
load -t 1 -c "$conns" --ratio 1:9 --data-size 32 -n "$n" "${rate_args[@]}"
callgrind_control -d "$pid" >/dev/null 2>&1
# corecached does not act on SIGTERM under valgrind; the counts are written already.
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
out=$(ls -t "$dir"/out.*.1 | head -1)
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
sleeps=$(callgrind_annotate --tree=calling --inclusive=yes --threshold=100 "$out" 2>/dev/null |
    awk '/=> .*link_rings_and_sleep / && !n++ {gsub(/[(x)]/, "", $NF); print $NF}' | tr -d ',')
# Clock reads: calls into glibc's clock_gettime, summed over its callers. Under valgrind it
# is a few instructions; on this VM each is a `rdtscp`, which costs far more than that.
clocks=$(callgrind_annotate --tree=caller --inclusive=yes --threshold=100 "$out" 2>/dev/null | python3 -c '
import re, sys
calls, callers = 0, []
for line in sys.stdin:
    if re.search(r"\s<\s", line):
        m = re.search(r"\(([\d,]+)x\)", line)
        callers.append(int(m.group(1).replace(",", "")) if m else 0)
        continue
    if re.search(r"\*\s+\S*clock_gettime\.c:clock_gettime", line):
        calls += sum(callers)
    callers = []
print(calls)')
line="$kind: $((total / n)) instructions per request ($n requests, $conns connection(s), ${rate:-closed loop}${rate:+/s})"
[[ -n $sleeps ]] && line+=", $(python3 -c "print(f'{$sleeps / $n:.2f}')") sleeps per request"
line+=", $(python3 -c "print(f'{$clocks / $n:.2f}')") clock reads per request"
echo "$line"
