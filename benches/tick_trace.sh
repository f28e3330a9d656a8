#!/usr/bin/env bash
# What one request costs the server's core around its sleep, from the kernel's own trace
# events: one server kind at a time, -t 1 pinned to core 0, loadgen -t 1 -c CONNS on
# core 1 (depth 1, 90 % gets, 10,000 keys, closed loop). Over one second of the run,
# `perf record -C 0` takes the scheduler's switches and wake-ups, the timer starts and the
# writes of model-specific registers (0x6e0 is the TSC deadline, the core's next timer
# interrupt), and the server's own run time is read from /proc/PID/task/*/schedstat over
# the same second. Prints, per time slice of the server's threads on core 0 (about one per
# request at one connection): TSC-deadline writes and the median time before each, the
# median time from the server's wake-up to its switch-in, and its run time by schedstat
# against its time on the core between switches (the difference is time the scheduler
# charges to it before it runs).
# Usage: bash benches/tick_trace.sh corecached|memcached [CONNS, 1]
# Environment: CC_BIN (the corecached binary), CC_ARGS (more corecached flags).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
kind=${1:?corecached or memcached}; conns=${2:-1}
cc=${CC_BIN:-target/release/corecached}; lg=${LG:-target/release/loadgen}
read -r -a cc_args <<<"${CC_ARGS:-}"
command -v perf >/dev/null || { echo "tick_trace.sh: perf is needed" >&2; exit 1; }
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
port=$(free_port)
case $kind in
    corecached) taskset -c 0 "$cc" -p "$port" -l 127.0.0.1 -t 1 -m 256 "${cc_args[@]}" >/dev/null 2>&1 & ;;
    memcached) taskset -c 0 /usr/bin/memcached -u nobody -p "$port" -l 127.0.0.1 -t 1 -m 256 -U 0 >/dev/null 2>&1 & ;;
    *) echo "tick_trace.sh: corecached or memcached, not $kind" >&2; exit 1 ;;
esac
pid=$!
wait_port "$port"
taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c 8 --key-space 10000 --prefill -n 1 >/dev/null 2>&1
taskset -c 1 "$lg" -s "127.0.0.1:$port" -t 1 -c "$conns" --key-space 10000 --ratio 1:9 \
    --data-size 32 --test-time 4 >/dev/null 2>&1 &
load=$!
sleep 1
perf record -q -k CLOCK_MONOTONIC -o "$dir/perf.data" -C 0 \
    -e sched:sched_switch,sched:sched_wakeup,timer:hrtimer_start,msr:write_msr -- sleep 2 >/dev/null 2>&1 &
rec=$!
sleep 0.5
python3 - "$pid" >"$dir/window" <<'PY'
import glob, sys, time
def run_ns():
    return sum(int(open(f).read().split()[0]) for f in glob.glob(f'/proc/{sys.argv[1]}/task/*/schedstat'))
a, t0 = run_ns(), time.clock_gettime(time.CLOCK_MONOTONIC)
time.sleep(1)
b, t1 = run_ns(), time.clock_gettime(time.CLOCK_MONOTONIC)
print(t0, t1, b - a)
PY
wait "$rec"
wait "$load"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
perf script -i "$dir/perf.data" -F time,event,trace 2>/dev/null >"$dir/trace"
python3 - "$kind" "$pid" "$dir/window" "$dir/trace" <<'PY'
import re, statistics, sys
kind, pid, window, trace = sys.argv[1:]
t0, t1, run_ns = open(window).read().split()
t0, t1, run_ns = float(t0), float(t1), int(run_ns)
line_re = re.compile(r'(\d+\.\d+):\s+(\S+):\s+(.*)')
slices, on_cpu, msr, before, wake_gaps = 0, 0.0, 0, [], []
prev_t, running, woke = None, {}, {}
ours = lambda comm: comm.startswith('shard-') if kind == 'corecached' else comm.startswith('mc-')
for line in open(trace):
    m = line_re.search(line)
    if not m:
        continue
    t, event, rest = float(m.group(1)), m.group(2), m.group(3)
    inside = t0 <= t <= t1
    if event == 'sched:sched_switch':
        prev = re.search(r'prev_comm=(\S+) prev_pid=(\d+)', rest)
        nxt = re.search(r'next_comm=(\S+) next_pid=(\d+)', rest)
        if ours(prev.group(1)) and prev.group(2) in running:
            start = max(running.pop(prev.group(2)), t0)
            if min(t, t1) > start:
                on_cpu += min(t, t1) - start
        if ours(nxt.group(1)):
            running[nxt.group(2)] = t
            if inside:
                slices += 1
                if nxt.group(2) in woke:
                    wake_gaps.append((t - woke.pop(nxt.group(2))) * 1e6)
    elif event == 'sched:sched_wakeup':
        w = re.search(r'comm=(\S+) pid=(\d+)', rest)
        if ours(w.group(1)):
            woke[w.group(2)] = t
    elif event == 'msr:write_msr' and rest.startswith('6e0,') and inside:
        msr += 1
        before.append((t - prev_t) * 1e6)
    prev_t = t
n = max(slices, 1)
print(f"{kind}: {slices} slices/s on core 0; {msr / n:.2f} TSC-deadline writes per slice "
      f"(median {statistics.median(before) if before else 0:.0f} us since the event before each); "
      f"wake-up to switch-in median {statistics.median(wake_gaps) if wake_gaps else 0:.0f} us; "
      f"run time per slice {run_ns / 1e3 / n:.1f} us by schedstat, {on_cpu * 1e6 / n:.1f} us on the core")
PY
