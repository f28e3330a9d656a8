#!/usr/bin/env bash
# A/B check that a change moves no benchmark of docs/benchmarks.md beyond noise: the same
# measurements on two builds of corecached, A (the base) and B (the change), alternating
# A B A B so that the shared VM's drift hits both alike, then one table of medians and B/A.
#
# What runs (the code paths issue 10 reshapes: parse -> op -> execute -> reply, routing,
# the store, replication):
#   cpu/request  server CPU per request under memcaslap, -t 1, server and client pinned
#                apart (the benches/cpu_per_request.sh measurement, corecached A vs B);
#   multiget     benches/multiget.sh: 100-key multi-gets, and pipelined single gets
#                (MULTIGET=1 PIPELINE=16), keys/s and server CPU per key;
#   twin         benches/replication.sh part a: set throughput with a twin attached over
#                standalone (its parts c and d run small and are not reported);
#   store/parse  `cargo bench --bench store` (1M keys, 32 B) and `--bench parse`, each
#                tree's own criterion benches, time per iteration (criterion's estimate);
#   get instr    benches/get_instructions.rs under callgrind: instructions per get hit, once
#                per build (the count is exact), only if valgrind is installed.
#
# Usage, from any directory (trees are git checkouts; each is built here if out of date):
#   git worktree add /work/base aaec756
#   (cd /work/base && CARGO_BUILD_JOBS=1 cargo build --release --workspace)
#   bash benches/ab.sh /work/base /path/to/new/tree
# About 15 minutes with the defaults on the 2-core VM of docs/benchmarks.md; QUICK=1 runs
# every part once, tiny, in about 3 minutes, to check the script rather than the code.
# Environment (defaults): ROUNDS=3 DURATION=5 (s per load run) KEYS=1000000 NOISE=3 (%)
#   SERVER_CORE=0 CLIENT_CORE=1 OUT=<new temp dir> STORE_FILTER=1000k/32B PARSE_FILTER=.
#   SKIP="" (words from: cpu multiget twin store parse instr)
# Run it on an otherwise idle machine: while other work ran on that VM, identical runs moved
# by 15-50 %. Only processes this script (or the scripts it calls) started are stopped.
set -euo pipefail

[[ $# == 2 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
A_TREE=$(cd "$1" && pwd)
B_TREE=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
if [[ ${QUICK:-0} == 1 ]]; then
    ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-1} KEYS=${KEYS:-100000}
    STORE_FILTER=${STORE_FILTER:-get_hit/100k/32B\$} PARSE_FILTER=${PARSE_FILTER:-get_64B_key}
    COPY_KEYS=20000 GET_TIME=1
else
    ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} KEYS=${KEYS:-1000000}
    STORE_FILTER=${STORE_FILTER:-1000k/32B} PARSE_FILTER=${PARSE_FILTER:-.}
    COPY_KEYS=200000 GET_TIME=3
fi
NOISE=${NOISE:-3}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
SKIP=${SKIP:-}
OUT=${OUT:-$(mktemp -d /tmp/ab.XXXXXX)}
mkdir -p "$OUT"
R=$OUT/results.tsv # part, metric, unit, better (lower/higher), side, round, value
: >"$R"

die() { echo "ab.sh: $*" >&2; exit 1; }
note() { echo "[$(date +%T)] $*" >&2; }
skip() { [[ " $SKIP " == *" $1 "* ]]; }
put() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$R"; }
command -v python3 >/dev/null || die "python3 is needed"
command -v taskset >/dev/null || die "taskset is needed"

# ---- builds ---------------------------------------------------------------------------------
# Each tree's own binaries and bench executables; cargo rebuilds only what is out of date.
declare -A BIN BENCH_STORE BENCH_PARSE BENCH_INSTR
for side in A B; do
    tree=${side}_TREE
    tree=${!tree}
    note "$side = $tree ($(git -C "$tree" log -1 --format='%h %s' 2>/dev/null | cut -c1-60))"
    log=$OUT/build-$side.log
    (cd "$tree" && cargo build --release --workspace -q) >"$log" 2>&1 ||
        die "cargo build failed in $tree, see $log"
    BIN[$side]=$tree/target/release/corecached
    exes=$(cd "$tree" && cargo bench --no-run --message-format=json -q \
        --bench store --bench parse --bench get_instructions 2>>"$log" |
        python3 -c 'import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])') ||
        die "cargo bench --no-run failed in $tree, see $log"
    BENCH_STORE[$side]=$(awk '$1=="store"{print $2}' <<<"$exes")
    BENCH_PARSE[$side]=$(awk '$1=="parse"{print $2}' <<<"$exes")
    BENCH_INSTR[$side]=$(awk '$1=="get_instructions"{print $2}' <<<"$exes")
    [[ -x ${BIN[$side]} && -x ${BENCH_STORE[$side]} && -x ${BENCH_PARSE[$side]} ]] ||
        die "$tree: missing corecached or bench executables"
done
# One client for both sides, so only the server differs.
LG=$A_TREE/target/release/loadgen
[[ -x $LG ]] || die "no loadgen at $LG"

STARTED=()
cleanup() {
    local p
    for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

HELP=$OUT/helper.py
cat >"$HELP" <<'EOF'
import socket, sys, time
def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
def wait_listen(p):
    end = time.time() + 10
    while time.time() < end:
        try: socket.create_connection(("127.0.0.1", p), timeout=1).close(); return
        except OSError: time.sleep(0.05)
    sys.exit(f"nothing listens on {p}")
def requests(p):
    # cmd_get + cmd_set, as cpu_per_request.sh counts requests
    s = socket.create_connection(("127.0.0.1", p), timeout=5); s.sendall(b"stats\r\n"); b = b""
    while not b.endswith(b"END\r\n"): b += s.recv(65536)
    st = {l.split()[1]: l.split()[2] for l in b.splitlines() if l.startswith(b"STAT ")}
    print(int(st[b"cmd_get"]) + int(st[b"cmd_set"]))
f, a = sys.argv[1], sys.argv[2:]
{"port": lambda: port(), "wait_listen": lambda: wait_listen(int(a[0])),
 "requests": lambda: requests(int(a[0]))}[f]()
EOF
py() { python3 "$HELP" "$@"; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# ---- cpu/request: memcaslap, server CPU per request ----------------------------------------
cpu_per_request() { # side round
    local port pid t0 o0 t1 o1
    port=$(py port)
    taskset -c "$SERVER_CORE" "${BIN[$1]}" -p "$port" -l 127.0.0.1 -t 1 -m 64 >/dev/null 2>&1 &
    pid=$!
    STARTED+=("$pid")
    py wait_listen "$port"
    t0=$(ticks "$pid") o0=$(py requests "$port")
    taskset -c "$CLIENT_CORE" memcaslap -s "127.0.0.1:$port" -T 1 -c 50 -t "${DURATION}s" -X 32 \
        >/dev/null 2>&1 || true
    t1=$(ticks "$pid") o1=$(py requests "$port")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    read -r us rate < <(python3 -c "o=$o1-$o0; print(($t1-$t0)/$(getconf CLK_TCK)/max(o,1)*1e6, o/$DURATION)")
    put cpu "server CPU per request (memcaslap)" "us" lower "$1" "$2" "$us"
    put cpu "requests/s (memcaslap)" "req/s" higher "$1" "$2" "$rate"
}
if ! skip cpu; then
    if command -v memcaslap >/dev/null; then
        for r in $(seq "$ROUNDS"); do
            for side in A B; do cpu_per_request "$side" "$r"; done
            note "cpu/request round $r done"
        done
    else
        note "cpu/request skipped: no memcaslap (apt-get install libmemcached-tools)"
    fi
fi

# ---- multiget.sh: 100-key multi-gets and pipelined gets ------------------------------------
multiget() { # label MULTIGET PIPELINE
    local label=$1 log=$OUT/multiget-$1.md
    A=${BIN[A]} B=${BIN[B]} LOADGEN_BIN=$LG ROUNDS=$ROUNDS DURATION=$DURATION KEYS=$KEYS \
        MULTIGET=$2 PIPELINE=$3 SERVER_CORE=$SERVER_CORE CLIENT_CORE=$CLIENT_CORE \
        bash "$HERE/multiget.sh" >"$log" 2>&1 || die "multiget.sh failed, see $log"
    # rows: | round | A keys/s | A us CPU/key | B keys/s | B us CPU/key | ratio |
    awk -F'|' '$2 ~ /^ *[0-9]+ *$/ {gsub(/ /, ""); print $2, $3, $4, $5, $6}' "$log" |
        while read -r r ak ac bk bc; do
            put multiget "$label: keys/s" "keys/s" higher A "$r" "$ak"
            put multiget "$label: server CPU per key" "us" lower A "$r" "$ac"
            put multiget "$label: keys/s" "keys/s" higher B "$r" "$bk"
            put multiget "$label: server CPU per key" "us" lower B "$r" "$bc"
        done
    note "multiget $label done"
}
if ! skip multiget; then
    command -v nc >/dev/null || die "multiget.sh needs nc (apt-get install netcat-openbsd)"
    multiget "100-key multi-get" 100 1
    multiget "pipelined gets, 16 deep" 1 16
fi

# ---- replication.sh part a: twin/standalone set throughput ----------------------------------
if ! skip twin; then
    for r in $(seq "$ROUNDS"); do
        for side in A B; do
            dir=$OUT/replication-$side-$r
            ROUNDS=1 DURATION=$DURATION COPY_KEYS=$COPY_KEYS GET_TIME=$GET_TIME OUT=$dir \
                CORECACHED_BIN=${BIN[$side]} LOADGEN_BIN=$LG SERVER_CORE=$SERVER_CORE \
                CLIENT_CORE=$CLIENT_CORE bash "$HERE/replication.sh" >"$dir.md" 2>"$dir.log" ||
                die "replication.sh failed, see $dir.log"
            read -r solo twin < <(awk -F'\t' '$1=="a"{print $3, $4}' "$dir/results.tsv")
            put twin "set throughput, twin/standalone" "ratio" higher "$side" "$r" \
                "$(python3 -c "print($twin/$solo)")"
            put twin "set throughput, standalone" "sets/s" higher "$side" "$r" "$solo"
        done
        note "twin round $r done"
    done
fi

# ---- criterion: each tree's own store and parse benches ------------------------------------
criterion() { # part exe filter side round
    local log=$OUT/$1-$4-$5.txt
    # Run from the tree so criterion's files stay in that tree's target/.
    (cd "$(dirname "$2")/../../.." && taskset -c "$SERVER_CORE" "$2" --bench "$3" >"$log" 2>&1) ||
        die "$2 failed, see $log"
    # "store/get_hit/1000k/32B  time: [140.1 ns 142.6 ns 145.0 ns]" (the name may sit on the
    # line above); the middle value is criterion's estimate.
    python3 - "$log" <<'EOF' | while IFS=$'\t' read -r name ns; do put "$1" "$name" ns lower "$4" "$5" "$ns"; done
import re, sys
scale = {"ps": 1e-3, "ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9}
name = None
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    m = re.match(r"^(\S+)(?:\s+time:|\s*$)", line)
    if m and not line.startswith(("Benchmarking", "Found", "Gnuplot", "n=", "WARNING")):
        name = m.group(1)
    t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if t and name:
        print(f"{name}\t{float(t.group(1)) * scale[t.group(2)]}")
EOF
}
for part in store parse; do
    skip "$part" && continue
    for r in $(seq "$ROUNDS"); do
        for side in A B; do
            if [[ $part == store ]]; then
                criterion store "${BENCH_STORE[$side]}" "$STORE_FILTER" "$side" "$r"
            else
                criterion parse "${BENCH_PARSE[$side]}" "$PARSE_FILTER" "$side" "$r"
            fi
        done
        note "$part round $r done"
    done
done

# ---- callgrind: instructions per get hit ----------------------------------------------------
if ! skip instr; then
    if command -v valgrind >/dev/null; then
        for side in A B; do
            exe=${BENCH_INSTR[$side]}
            [[ -x $exe ]] || { note "instr: no get_instructions bench in the $side tree"; continue; }
            cg=$OUT/callgrind-$side.out
            hits=$(valgrind --tool=callgrind --toggle-collect='*get_all*' --callgrind-out-file="$cg" \
                "$exe" 2>"$OUT/callgrind-$side.log" | awk '/get hits/{print $1}')
            total=$(awk '/^(summary|totals):/{print $2; exit}' "$cg")
            put instr "instructions per get hit (callgrind)" "instr" lower "$side" 1 \
                "$(python3 -c "print($total/$hits)")"
            note "callgrind $side done"
        done
    else
        note "instructions per get skipped: valgrind is not installed"
    fi
fi

# ---- the table ------------------------------------------------------------------------------
python3 - "$R" "$NOISE" "$A_TREE" "$B_TREE" "$ROUNDS" "$DURATION" "$KEYS" <<'EOF'
import statistics as st, sys
path, noise, a_tree, b_tree, rounds, dur, keys = sys.argv[1:]
noise = float(noise) / 100
rows = {}
for l in open(path):
    part, metric, unit, better, side, rnd, val = l.rstrip("\n").split("\t")
    rows.setdefault((part, metric, unit, better), {"A": [], "B": []})[side].append(float(val))
def fmt(x):
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"
print(f"A = {a_tree}\nB = {b_tree}\n{rounds} rounds, A B A B; load runs {dur} s; {keys} keys for multiget.")
print(f"Verdict: B/A beyond ±(the largest of {noise*100:.0f} % and either side's spread over its rounds)")
print("is better or **worse**; callgrind's count is exact, so any change in it is reported.\n")
print("| part | benchmark | unit | A median | B median | B/A | A range | B range | verdict |")
print("|---|---|---|---:|---:|---:|---|---|---|")
for (part, metric, unit, better), v in rows.items():
    a, b = v["A"], v["B"]
    if not a or not b:
        continue
    ma, mb = st.median(a), st.median(b)
    ratio = mb / ma if ma else float("nan")
    # Noise: the largest of NOISE % and either side's own spread across its rounds.
    spread = lambda xs: (max(xs) - min(xs)) / st.median(xs) if st.median(xs) else 0
    band = 0 if part == "instr" else max(noise, spread(a), spread(b))
    worse = ratio > 1 + band if better == "lower" else ratio < 1 - band
    improved = ratio < 1 - band if better == "lower" else ratio > 1 + band
    verdict = "**worse**" if worse else "better" if improved else "within noise"
    print(f"| {part} | {metric} | {unit} ({better} is better) | {fmt(ma)} | {fmt(mb)} | {ratio:.3f} "
          f"| {fmt(min(a))}-{fmt(max(a))} | {fmt(min(b))}-{fmt(max(b))} | {verdict} (±{band*100:.0f} %) |")
EOF
echo >&2
note "per-run logs and results.tsv in $OUT"
