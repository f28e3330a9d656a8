#!/usr/bin/env bash
# What twin replication costs, measured on 127.0.0.1 with corecached -t 1 servers pinned to
# SERVER_CORE (both twins on the same core, unless TWIN_CORE puts node B elsewhere) and every
# client pinned to CLIENT_CORE:
#
#   a. set throughput, closed loop (loadgen -t 1 -c 50 --ratio 1:0 --data-size 32
#      --key-space 100000), against a standalone node vs against node A of a twin pair;
#      rounds alternate standalone / pair (A B A B), ratio = pair / standalone.
#      Also the servers' CPU time over each run (utime + stime from /proc/PID/stat): CPU per
#      set on the standalone node, on A and on B. On a host shared with other work the
#      throughput ratio moves with whatever else runs on SERVER_CORE; the CPU ratio,
#      standalone / (A + B) per set, is what the throughput ratio would be with the core
#      to themselves (both twins share it), and moves far less.
#   b. replication lag during (a): `stats replication` on A every 100 ms (lag_us, lag_ms,
#      lag_records), p50/p99/max over all samples, plus how long A takes to drain to
#      lag_records 0 once the load stops and whether B then holds as many items as A.
#      The same sampler also polls the standalone node, so both sides carry its cost.
#   c. time for a new twin to receive COPY_KEYS keys: A is started with --twin pointing at a
#      port where nothing listens yet and filled with COPY_KEYS 32-byte values; then B is
#      started and B's curr_items is polled every 50 ms until it reaches COPY_KEYS. Reported
#      from B's start ("total": includes B's startup and A's reconnect backoff, up to 2 s)
#      and from the first poll that saw an item on B ("transfer", +-50 ms).
#   e. (PARTS with e) the same sets at a fixed open-loop rate, E_RATE/s for DURATION s, standalone
#      vs twin pair, alternating: CPU per set on each server and, when `perf` is installed,
#      system calls and context switches per set on each (perf stat tracepoints); A's sendto
#      beyond one per request are its writes to B. Counts do not move with the host's load
#      the way times do.
#   d. get latency on the source while it sends that copy: an open-loop get load on A
#      (loadgen --rate GET_RATE --ratio 0:1 --key-space COPY_KEYS --test-time GET_TIME),
#      once with no twin joining and once while a fresh B joins (started 1 s into the run).
#
# Run from the repository root after `cargo build --release --workspace`:
#   bash benches/replication.sh
# Environment (defaults): PARTS=abcd (ab: throughput and lag only; cd: the copy only; e: the
#   fixed-rate counts, not in the default) E_RATE=20000
#   ROUNDS=3 DURATION=8 COPY_KEYS=1000000 GET_RATE=20000 GET_TIME=10
#   SERVER_CORE=0 CLIENT_CORE=1 TWIN_CORE=$SERVER_CORE OUT=<new temp dir> CORECACHED_BIN
#   LOADGEN_BIN
# The headline figures keep both twins on one core, so B's apply cost competes with A; with
# TWIN_CORE=1 (B shares the client's core instead) they come closer to twins on two machines.
# About 2.5 minutes with the defaults. Prints a markdown summary on stdout; per-run JSON,
# lag samples and server logs stay in $OUT. Only processes this script started are killed.
set -euo pipefail

PARTS=${PARTS:-abcd}
E_RATE=${E_RATE:-20000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
COPY_KEYS=${COPY_KEYS:-1000000}
GET_RATE=${GET_RATE:-20000}
GET_TIME=${GET_TIME:-10}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
TWIN_CORE=${TWIN_CORE:-$SERVER_CORE}
TARGET=${CARGO_TARGET_DIR:-target}
CC=${CORECACHED_BIN:-$TARGET/release/corecached}
LG=${LOADGEN_BIN:-$TARGET/release/loadgen}
OUT=${OUT:-$(mktemp -d /tmp/replication.XXXXXX)}
mkdir -p "$OUT"

die() { echo "replication.sh: $*" >&2; exit 1; }
[[ -x $CC ]] || die "no corecached at $CC (cargo build --release --workspace)"
[[ -x $LG ]] || die "no loadgen at $LG (cargo build --release --workspace)"
command -v python3 >/dev/null || die "python3 is needed"
command -v taskset >/dev/null || die "taskset is needed"

STARTED=()
cleanup() {
    local p
    for p in "${STARTED[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    STARTED=()
}
trap cleanup EXIT INT TERM

stop() { # pid...: stop processes this script started
    local p
    for p in "$@"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}

# Small python helper: free ports, stats polling, lag sampling, waiting for a copy.
HELP=$OUT/helper.py
cat >"$HELP" <<'EOF'
import socket, sys, time

def ports(n):
    # Distinct free ports below Linux's ephemeral range (32768+), so loadgen's and the
    # twins' own outgoing connections cannot take them between this check and the bind.
    import random
    got = []
    while len(got) < n:
        p = random.randint(10000, 32000)
        if p in got: continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p)); got.append(p)
        except OSError:
            pass
        finally:
            s.close()
    print(" ".join(map(str, got)))

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
    def stats(self, sub=""):
        self.s.sendall(b"stats %s\r\n" % sub.encode() if sub else b"stats\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            chunk = self.s.recv(65536)
            if not chunk: raise OSError("closed")
            buf += chunk
        return {l.split()[1].decode(): l.split()[2].decode() for l in buf.splitlines() if l.startswith(b"STAT ")}

def wait_listen(port, secs=10):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close(); return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")

def wait_streaming(port, secs=20):
    c = Conn(port); end = time.time() + secs
    while time.time() < end:
        if c.stats("replication").get("links_streaming") == "1": return
        time.sleep(0.05)
    sys.exit(f"node {port}: link not streaming after {secs}s")

def sample_lag(port, secs, out):
    # every 100 ms: seconds since start, lag_ms, lag_records, lag_us (absent on a standalone
    # node)
    c = Conn(port); t0 = time.time(); n = 0
    with open(out, "w") as f:
        while True:
            n += 1
            st = c.stats("replication")
            f.write("%.3f %s %s %s\n" % (time.time() - t0, st.get("lag_ms", "-"), st.get("lag_records", "-"), st.get("lag_us", "-")))
            nxt = t0 + n * 0.1
            if nxt - t0 > secs: break
            time.sleep(max(0, nxt - time.time()))

def drain(a_port, b_port, secs=60):
    # after the load: seconds until A's lag_records is 0, then A's and B's curr_items
    c = Conn(a_port); t0 = time.time()
    while time.time() - t0 < secs:
        if c.stats("replication").get("lag_records") == "0": break
        time.sleep(0.01)
    d = time.time() - t0
    time.sleep(0.3)
    print("%.3f %s %s" % (d, c.stats()["curr_items"], Conn(b_port).stats()["curr_items"]))

def wait_copy(a_port, b_port, n, t_start, secs=120):
    # polls B's curr_items every 50 ms until >= n. Prints, timed when each reply arrives:
    # seconds since t_start (B launched) until B reported n items, seconds since the first
    # reply that showed any item on B (0 when B went from no items to all in one reply),
    # the longest wait for one `stats` reply from B in ms (B answers no client while it
    # applies a copy), final curr_items on B
    b = None; t_first = None; items = 0; stall = 0.0
    while time.time() - t_start < secs:
        now = time.time()
        try:
            if b is None: b = Conn(b_port)
            items = int(b.stats()["curr_items"])
        except OSError:
            b = None; items = 0
        done = time.time()  # when the reply arrived: B may have held it for the whole copy
        stall = max(stall, done - now)
        if items > 0 and t_first is None:
            t_first = done
        if items >= n:
            print("%.3f %.3f %.0f %d" % (done - t_start, done - t_first, stall * 1000, items)); return
        time.sleep(max(0, 0.05 - (time.time() - now)))
    print("timeout timeout timeout %d" % items)

def curr_items(port): print(Conn(port).stats()["curr_items"])

if __name__ == "__main__":
    f = sys.argv[1]; a = sys.argv[2:]
    if f == "ports": ports(int(a[0]))
    elif f == "wait_listen": wait_listen(int(a[0]))
    elif f == "wait_streaming": wait_streaming(int(a[0]))
    elif f == "sample_lag": sample_lag(int(a[0]), float(a[1]), a[2])
    elif f == "drain": drain(int(a[0]), int(a[1]))
    elif f == "wait_copy": wait_copy(int(a[0]), int(a[1]), int(a[2]), float(a[3]))
    elif f == "curr_items": curr_items(int(a[0]))
EOF
py() { python3 "$HELP" "$@"; }
pyc() { taskset -c "$CLIENT_CORE" python3 "$HELP" "$@"; }

NODE_PID=""
start_node() { # name port [args...] -> NODE_PID
    local name=$1 port=$2 core=$SERVER_CORE
    shift 2
    [[ $name == twinB || $name == copyB ]] && core=$TWIN_CORE
    taskset -c "$core" "$CC" -p "$port" -l 127.0.0.1 -t 1 -m 1024 "$@" >>"$OUT/$name.log" 2>&1 &
    NODE_PID=$!
    STARTED+=("$NODE_PID")
    py wait_listen "$port" || die "$name did not start (see $OUT/$name.log)"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, 1/100 s

jf() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$@"; }

lg() { taskset -c "$CLIENT_CORE" "$LG" -t 1 -c 50 --quiet "$@"; }

R=$OUT/results.tsv
: >"$R"
echo "results in $OUT (servers on core $SERVER_CORE, node B on core $TWIN_CORE, clients on core $CLIENT_CORE)" >&2

# ---- a + b: set throughput with and without a twin, lag while loaded -----------------------
for r in $(seq 1 "$ROUNDS"); do
    [[ $PARTS == *a* ]] || break
    read -r P < <(py ports 1)
    start_node solo "$P"
    S=$NODE_PID
    pyc sample_lag "$P" "$DURATION" "$OUT/lag-solo-$r.txt" &
    SAMP=$!
    c0=$(cpu_ticks "$S")
    lg -s "127.0.0.1:$P" --ratio 1:0 --data-size 32 --key-space 100000 --test-time "$DURATION" \
        --json-out "$OUT/a-solo-$r.json" >/dev/null
    cs=$(($(cpu_ticks "$S") - c0))
    wait "$SAMP" || true
    stop "$S"
    solo=$(jf "$OUT/a-solo-$r.json" 'd["ops_per_sec"]')
    nsolo=$(jf "$OUT/a-solo-$r.json" 'd["ops"]')

    read -r PA RA PB RB < <(py ports 4)
    start_node twinA "$PA" -X "$RA" --twin "127.0.0.1:$RB"
    A=$NODE_PID
    start_node twinB "$PB" -X "$RB" --twin "127.0.0.1:$RA"
    B=$NODE_PID
    py wait_streaming "$PA"
    py wait_streaming "$PB"
    pyc sample_lag "$PA" "$DURATION" "$OUT/lag-twin-$r.txt" &
    SAMP=$!
    a0=$(cpu_ticks "$A")
    b0=$(cpu_ticks "$B")
    lg -s "127.0.0.1:$PA" --ratio 1:0 --data-size 32 --key-space 100000 --test-time "$DURATION" \
        --json-out "$OUT/a-twin-$r.json" >/dev/null
    ca=$(($(cpu_ticks "$A") - a0))
    cb=$(($(cpu_ticks "$B") - b0))
    read -r drain ia ib < <(py drain "$PA" "$PB")
    wait "$SAMP" || true
    stop "$A" "$B"
    twin=$(jf "$OUT/a-twin-$r.json" 'd["ops_per_sec"]')
    ntwin=$(jf "$OUT/a-twin-$r.json" 'd["ops"]')
    printf 'a\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$solo" "$twin" "$drain" "$ia" "$ib" \
        "$cs" "$nsolo" "$ca" "$cb" "$ntwin" >>"$R"
    echo "a round $r: standalone $solo sets/s, twin A $twin sets/s; drained in ${drain}s, items A $ia B $ib; CPU ticks solo $cs A $ca B $cb" >&2
done

# ---- e: fixed-rate sets, standalone vs twin: CPU and system calls per set ----------------------
EV='raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,sched:sched_switch'
perf_on() { # pid name -> starts perf stat on pid, output $OUT/name.perf; PERF_PID
    PERF_PID=""
    command -v perf >/dev/null || return 0
    perf stat -x, -e "$EV" -p "$1" -o "$OUT/$2.perf" 2>/dev/null &
    PERF_PID=$!
    sleep 0.3
}
perf_off() { [[ -z ${1:-} ]] || { kill -INT "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }; }
for r in $(seq 1 "$ROUNDS"); do
    [[ $PARTS == *e* ]] || break
    read -r P < <(py ports 1)
    start_node esolo "$P"
    S=$NODE_PID
    perf_on "$S" "e-solo-$r"
    PS=$PERF_PID
    c0=$(cpu_ticks "$S")
    lg -s "127.0.0.1:$P" --rate "$E_RATE" --ratio 1:0 --data-size 32 --key-space 100000 \
        --test-time "$DURATION" --json-out "$OUT/e-solo-$r.json" >/dev/null
    cs=$(($(cpu_ticks "$S") - c0))
    perf_off "$PS"
    stop "$S"
    read -r PA RA PB RB < <(py ports 4)
    start_node twinA "$PA" -X "$RA" --twin "127.0.0.1:$RB"
    A=$NODE_PID
    start_node twinB "$PB" -X "$RB" --twin "127.0.0.1:$RA"
    B=$NODE_PID
    py wait_streaming "$PA"
    py wait_streaming "$PB"
    perf_on "$A" "e-twinA-$r"
    PA_=$PERF_PID
    perf_on "$B" "e-twinB-$r"
    PB_=$PERF_PID
    a0=$(cpu_ticks "$A")
    b0=$(cpu_ticks "$B")
    lg -s "127.0.0.1:$PA" --rate "$E_RATE" --ratio 1:0 --data-size 32 --key-space 100000 \
        --test-time "$DURATION" --json-out "$OUT/e-twin-$r.json" >/dev/null
    ca=$(($(cpu_ticks "$A") - a0))
    cb=$(($(cpu_ticks "$B") - b0))
    perf_off "$PA_"
    perf_off "$PB_"
    stop "$A" "$B"
    printf 'e\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$cs" "$(jf "$OUT/e-solo-$r.json" 'd["ops"]')" "$ca" "$cb" \
        "$(jf "$OUT/e-twin-$r.json" 'd["ops"]')" >>"$R"
    echo "e round $r: CPU ticks standalone $cs, A $ca, B $cb at $E_RATE sets/s" >&2
done

# ---- c + d: full copy of COPY_KEYS keys to a new twin; get latency on the source meanwhile --
for r in $(seq 1 "$ROUNDS"); do
    [[ $PARTS == *c* ]] || break
    read -r PA RA PB RB < <(py ports 4)
    start_node copyA "$PA" -X "$RA" --twin "127.0.0.1:$RB" # nothing listens on RB yet
    A=$NODE_PID
    lg -s "127.0.0.1:$PA" --ratio 1:0 --data-size 32 --key-space "$COPY_KEYS" --prefill -n 1 \
        --json-out "$OUT/c-fill-$r.json" >/dev/null
    n=$(py curr_items "$PA")
    [[ $n == "$COPY_KEYS" ]] || die "A holds $n items after the fill, expected $COPY_KEYS"

    # c: B joins with no other load.
    t0=$(date +%s.%N)
    start_node copyB "$PB" -X "$RB" --twin "127.0.0.1:$RA"
    B=$NODE_PID
    read -r total copy stall got < <(pyc wait_copy "$PA" "$PB" "$COPY_KEYS" "$t0")
    stop "$B"
    echo "c round $r: B got $got keys ${total}s after its start, ${copy}s after its first key; longest stats reply from B ${stall} ms" >&2

    # d, baseline: no twin joining (B is down; A keeps retrying its link as before the join).
    sleep 1
    lg -s "127.0.0.1:$PA" --rate "$GET_RATE" --ratio 0:1 --key-space "$COPY_KEYS" --test-time "$GET_TIME" \
        --json-out "$OUT/d-base-$r.json" >/dev/null
    # d, join: the same load, with a fresh (empty) B started 1 s in.
    lg -s "127.0.0.1:$PA" --rate "$GET_RATE" --ratio 0:1 --key-space "$COPY_KEYS" --test-time "$GET_TIME" \
        --json-out "$OUT/d-join-$r.json" >/dev/null &
    LGP=$!
    sleep 1
    t0=$(date +%s.%N)
    start_node copyB "$PB" -X "$RB" --twin "127.0.0.1:$RA"
    B=$NODE_PID
    read -r jtotal jcopy jstall jgot < <(pyc wait_copy "$PA" "$PB" "$COPY_KEYS" "$t0")
    wait "$LGP"
    stop "$B" "$A"
    read -r bp99 bp999 bhit bunsent bw < <(jf "$OUT/d-base-$r.json" \
        '"%s %s %s %s %s" % (d["latency_us"]["p99"], d["latency_us"]["p999"], d["hit_ratio"], d["unsent_backlog"], max(p["p99_us"] for p in d["timeline"]))')
    read -r jp99 jp999 jhit junsent jw < <(jf "$OUT/d-join-$r.json" \
        '"%s %s %s %s %s" % (d["latency_us"]["p99"], d["latency_us"]["p999"], d["hit_ratio"], d["unsent_backlog"], max(p["p99_us"] for p in d["timeline"]))')
    printf 'c\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$total" "$copy" "$got" "$jtotal" "$jcopy" "$jgot" "$stall" "$jstall" >>"$R"
    printf 'd\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$bp99" "$bp999" "$jp99" "$jp999" "$bhit" "$jhit" "$bunsent" "$junsent" "$bw" "$jw" >>"$R"
    echo "d round $r: get p99/p99.9 ${bp99}/${bp999} us without a join, ${jp99}/${jp999} us during it (copy took ${jtotal}s from B's start, ${jcopy}s from its first key)" >&2
done

# ---- summary --------------------------------------------------------------------------------
python3 - "$R" "$OUT" "$ROUNDS" "$COPY_KEYS" "$GET_RATE" "$GET_TIME" "$DURATION" "$E_RATE" <<'EOF'
import glob, statistics as st, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
out, rounds, keys, rate, gt, dur = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
med = st.median
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]
a = [r for r in rows if r[0] == "a"]
if a:
    print(f"### a. set throughput, standalone vs twin pair ({rounds} rounds, {dur} s each)\n")
    print("| round | standalone sets/s | twin A sets/s | twin/standalone | drain after load s | items A | items B |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in a:
        print(f"| {r[1]} | {float(r[2]):.0f} | {float(r[3]):.0f} | {float(r[3])/float(r[2]):.3f} | {float(r[4]):.2f} | {r[5]} | {r[6]} |")
    solo, twin = [float(r[2]) for r in a], [float(r[3]) for r in a]
    print(f"| median | {med(solo):.0f} | {med(twin):.0f} | {med(twin)/med(solo):.3f} (median of per-round ratios {med([t/s for s, t in zip(solo, twin)]):.3f}) | | | |\n")
    print("Server CPU per set (utime + stime over the run / sets done), in µs:\n")
    print("| round | standalone | twin A | twin B | A + B | standalone / (A + B) |")
    print("|---|---:|---:|---:|---:|---:|")
    us = lambda ticks, n: float(ticks) * 10000 / float(n)
    ratios = []
    for r in a:
        s_, a_, b_ = us(r[7], r[8]), us(r[9], r[11]), us(r[10], r[11])
        ratios.append(s_ / (a_ + b_))
        print(f"| {r[1]} | {s_:.2f} | {a_:.2f} | {b_:.2f} | {a_ + b_:.2f} | {ratios[-1]:.3f} |")
    print(f"| median | | | | | {med(ratios):.3f} |\n")
    lag_ms, lag_rec, lag_us = [], [], []
    for f in sorted(glob.glob(out + "/lag-twin-*.txt")):
        for l in open(f):
            t, ms, rec, us_ = l.split()
            if ms != "-": lag_ms.append(int(ms)); lag_rec.append(int(rec))
            if us_ != "-": lag_us.append(int(us_))  # a build before lag_us has none
    if lag_ms:
        print(f"### b. replication lag on A during (a), {len(lag_ms)} samples every 100 ms over {rounds} rounds\n")
        print("| field | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|")
        if lag_us:
            print(f"| lag_us | {pct(lag_us,.5)} | {pct(lag_us,.9)} | {pct(lag_us,.99)} | {max(lag_us)} |")
        print(f"| lag_ms | {pct(lag_ms,.5)} | {pct(lag_ms,.9)} | {pct(lag_ms,.99)} | {max(lag_ms)} |")
        print(f"| lag_records | {pct(lag_rec,.5)} | {pct(lag_rec,.9)} | {pct(lag_rec,.99)} | {max(lag_rec)} |\n")
c = [r for r in rows if r[0] == "c"]
if c:
    print(f"### c. a new twin receives {keys:,} keys (32 B values)\n")
    print("| round | from B's start s | from B's first key s | keys/s (from start) | longest B stats reply ms | under {0} gets/s: from start s | from first key s | longest B stats reply ms |".format(rate))
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    def f3(x):
        try: return float(x)
        except ValueError: return float("nan")
    for r in c:
        print(f"| {r[1]} | {f3(r[2]):.2f} | {f3(r[3]):.2f} | {keys/f3(r[2]):,.0f} | {r[8]} | {f3(r[5]):.2f} | {f3(r[6]):.2f} | {r[9]} |")
    tot, cp, jt, jc = ([f3(r[i]) for r in c] for i in (2, 3, 5, 6))
    print(f"| median | {med(tot):.2f} | {med(cp):.2f} | {keys/med(tot):,.0f} | {med([f3(r[8]) for r in c]):.0f} | {med(jt):.2f} | {med(jc):.2f} | {med([f3(r[9]) for r in c]):.0f} |\n")
e = [r for r in rows if r[0] == "e"]
if e:
    import os
    print(f"### e. sets at {sys.argv[8]}/s open loop, {dur} s: per set, standalone vs twin pair\n")
    def perf(name):
        f = f"{out}/{name}.perf"
        if not os.path.exists(f): return {}
        got = {}
        for l in open(f):
            p = l.strip().split(",")
            if len(p) > 2 and p[0].replace(".", "").isdigit(): got[p[2].split(":")[-1]] = float(p[0])
        return got
    cols = ["sys_enter", "sys_enter_io_uring_enter", "sys_enter_recvfrom", "sys_enter_sendto", "sched_switch"]
    print("| round | node | CPU µs | system calls | io_uring_enter | recvfrom | sendto | context switches |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    per = {"standalone": [], "twin A": [], "twin B": [], "A + B": []}
    for r in e:
        n_s, n_t = float(r[3]), float(r[6])
        for node, ticks, n, pf in (("standalone", r[2], n_s, f"e-solo-{r[1]}"), ("twin A", r[4], n_t, f"e-twinA-{r[1]}"), ("twin B", r[5], n_t, f"e-twinB-{r[1]}")):
            cnt = perf(pf)
            us = float(ticks) * 10000 / n
            per[node].append([us] + [cnt.get(c, float("nan")) / n for c in cols])
            print(f"| {r[1]} | {node} | {us:.2f} | " + " | ".join(f"{cnt.get(c, float('nan')) / n:.3f}" for c in cols) + " |")
        per["A + B"].append([a + b for a, b in zip(per["twin A"][-1], per["twin B"][-1])])
    for node, rows_ in per.items():
        m = [med([x[i] for x in rows_]) for i in range(6)]
        print(f"| median | {node} | {m[0]:.2f} | " + " | ".join(f"{v:.3f}" for v in m[1:]) + " |")
    print()
d = [r for r in rows if r[0] == "d"]
if d:
    print(f"### d. open-loop gets on A at {rate}/s for {gt} s: no join vs while B receives the copy\n")
    print("| round | p99 us, no join | p99.9 us, no join | worst 1-s p99 us, no join | p99 us, join | p99.9 us, join | worst 1-s p99 us, join | unsent (no join / join) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in d:
        print(f"| {r[1]} | {float(r[2]):.1f} | {float(r[3]):.1f} | {float(r[10]):.1f} | {float(r[4]):.1f} | {float(r[5]):.1f} | {float(r[11]):.1f} | {r[8]} / {r[9]} |")
    b99, b999, j99, j999, bw, jw = ([float(r[i]) for r in d] for i in (2, 3, 4, 5, 10, 11))
    print(f"| median | {med(b99):.1f} | {med(b999):.1f} | {med(bw):.1f} | {med(j99):.1f} ({med(j99)/med(b99):.2f}x) | {med(j999):.1f} ({med(j999)/med(b999):.2f}x) | {med(jw):.1f} ({med(jw)/med(bw):.2f}x) | |")
EOF
echo "per-run files: $OUT" >&2
