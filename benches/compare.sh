#!/usr/bin/env bash
# Compares corecached with Debian's memcached under identical load from loadgen, and prints
# a markdown table of medians and corecached/memcached ratios.
#
# Run from the repository root:   bash benches/compare.sh
# Environment (defaults):
#   ROUNDS=3        A B A B ... rounds per workload (memcached, then corecached)
#   DURATION=8      seconds measured per run ("8s" works too)
#   THREADS=1       server threads (-t), the same for both servers
#   MEMORY=64       server memory in MiB (-m), the same for both servers
#   SERVER_CORE=0   core both servers are pinned to (one at a time)
#   CLIENT_CORE=1   core loadgen is pinned to
#   BUILD=1         0 skips `cargo build --release`
#   WORKLOADS       space-separated subset of the workloads below (default: all), e.g.
#                   WORKLOADS="meta_mg meta_ms binary_get binary_mget" for the meta and
#                   binary rows alone
#   LOADGEN_BIN, CORECACHED_BIN, MEMCACHED_BIN   override the binaries
#   OUT             directory for the per-run JSON files (default: a new temp dir)
# If the corecached binary is missing, memcached is measured alone and corecached is
# reported as skipped.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
DURATION=${DURATION%s}
THREADS=${THREADS:-1}
MEMORY=${MEMORY:-64}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
BUILD=${BUILD:-1}
KEYS=100000
CONNS=50

die() { echo "compare.sh: $*" >&2; exit 1; }

[[ -f Cargo.toml && -d loadgen ]] || die "run me from the repository root"
command -v python3 >/dev/null || die "python3 is needed to read loadgen's JSON"
command -v taskset >/dev/null || die "taskset (util-linux) is needed for pinning"

TARGET=${CARGO_TARGET_DIR:-target}
if [[ $BUILD != 0 ]]; then
    cargo build --release -p loadgen
    cargo build --release -p corecached || echo "compare.sh: corecached did not build; it will be skipped" >&2
fi
LOADGEN=${LOADGEN_BIN:-$TARGET/release/loadgen}
CORECACHED=${CORECACHED_BIN:-$TARGET/release/corecached}
MEMCACHED=${MEMCACHED_BIN:-$(command -v memcached || true)}
[[ -x $LOADGEN ]] || die "loadgen binary not found at $LOADGEN"
[[ -n $MEMCACHED && -x $MEMCACHED ]] || die "memcached not found (apt-get install memcached)"
SERVERS=(memcached)
if [[ -x $CORECACHED ]]; then
    SERVERS+=(corecached)
else
    echo "compare.sh: corecached binary not found at $CORECACHED: skipped, measuring memcached alone" >&2
fi

OUT=${OUT:-$(mktemp -d /tmp/compare.XXXXXX)}
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
: >"$OUT/desc.tsv"
CLK_TCK=$(getconf CLK_TCK)

SERVER_PID=""
STARTED=()
cleanup() {
    # Only the servers this script started, by PID.
    local p
    for p in "${STARTED[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    STARTED=()
}
trap cleanup EXIT INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local p
    for _ in $(seq 1 50); do
        # Below Linux's ephemeral range, where loadgen's own client ports come from.
        p=$((10000 + RANDOM % 22000))
        port_in_use "$p" || { echo "$p"; return; }
    done
    die "no free port found"
}

start_server() { # name -> sets SERVER_PID, PORT
    local name=$1 attempt
    for attempt in 1 2 3 4 5; do
        PORT=$(free_port)
        local args=(-p "$PORT" -l 127.0.0.1 -m "$MEMORY" -t "$THREADS")
        if [[ $name == memcached ]]; then
            # memcached refuses to run as root without -u.
            [[ $(id -u) == 0 ]] && args+=(-u root)
            taskset -c "$SERVER_CORE" "$MEMCACHED" "${args[@]}" >"$OUT/$name.log" 2>&1 &
        else
            taskset -c "$SERVER_CORE" "$CORECACHED" "${args[@]}" >"$OUT/$name.log" 2>&1 &
        fi
        SERVER_PID=$!
        STARTED+=("$SERVER_PID")
        for _ in $(seq 1 100); do
            port_in_use "$PORT" && return 0
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        # Lost a race for the port (or failed): try another one.
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        echo "compare.sh: $name failed on port $PORT (attempt $attempt): $(tail -1 "$OUT/$name.log")" >&2
    done
    die "$name did not start listening on 127.0.0.1"
}

server_ops() { # cmd_get + cmd_set from the server's own stats
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'stats\r\nquit\r\n' >&3
    timeout 2 cat <&3 | tr -d '\r' | awk '$1=="STAT" && ($2=="cmd_get" || $2=="cmd_set") {s+=$3} END {print s+0}'
    exec 3<&-
}

server_cpu_ticks() { # utime + stime; the command name may hold spaces, so cut after ')'
    sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'
}

server_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }

# --verify on every run: a server that answers fast but wrong must fail, not win.
# KEYSPACE narrows the key space (the prefill of the miss workloads stores only part of it).
loadgen() { taskset -c "$CLIENT_CORE" "$LOADGEN" -s "127.0.0.1:$PORT" -t 1 -c "$CONNS" \
    --key-space "${KEYSPACE:-$KEYS}" --verify --quiet "$@"; }

# workload name -> loadgen flags (without the key space, duration and output).
ALL_WORKLOADS=(get90 pipeline16 value1k zipf sets meta16 metasets openloop meta_mg meta_ms binary_get binary_mget)
read -r -a WORKLOADS <<<"${WORKLOADS:-${ALL_WORKLOADS[*]}}"
declare -A FLAGS=(
    [get90]="--ratio 1:9 --data-size 32"
    [pipeline16]="--ratio 1:9 --data-size 32 --pipeline 16"
    [value1k]="--ratio 1:9 --data-size 1024"
    [zipf]="--ratio 1:9 --data-size 32 --key-pattern zipf:0.99"
    [sets]="--ratio 1:0 --data-size 32"
    [meta16]="--protocol meta --ratio 1:9 --data-size 32 --pipeline 16"
    [metasets]="--protocol meta --ratio 1:0 --data-size 32"
    [openloop]="--ratio 1:9 --data-size 32"
    [meta_mg]="--protocol meta --ratio 0:1 --data-size 32 --multiget 10 --pipeline 4"
    [meta_ms]="--protocol meta --ratio 1:0 --data-size 32"
    [binary_get]="--protocol binary --ratio 1:9 --data-size 32"
    [binary_mget]="--protocol binary --ratio 0:1 --data-size 32 --multiget 10 --pipeline 4"
)
# Workloads whose prefill stores only this many keys, so about half their gets miss: the
# quiet misses (meta mg q, binary GETKQ) are what they measure.
declare -A PREFILL_KEYS=([meta_mg]=$((KEYS / 2)) [binary_mget]=$((KEYS / 2)))
declare -A DESC=(
    [get90]="90% get / 10% set, 32 B, depth 1"
    [pipeline16]="same, pipeline 16"
    [value1k]="90/10, 1 KiB values"
    [zipf]="90/10, zipf:0.99 keys"
    [sets]="sets only, 32 B"
    [meta16]="meta: quiet mg/ms + mn, 90/10, pipeline 16"
    [metasets]="meta: quiet ms + mn only, 32 B"
    [openloop]="open loop at half memcached's max"
    [meta_mg]="meta: 10-key mg q ... mn, half miss, pipeline 4"
    [meta_ms]="meta: ms q ... mn, sets only, 32 B"
    [binary_get]="binary: 90% GETK / 10% SET, 32 B"
    [binary_mget]="binary: 10 GETKQ + NOOP, half miss, pipeline 4"
)
for w in "${WORKLOADS[@]}"; do
    [[ -n ${FLAGS[$w]:-} ]] || die "unknown workload $w (known: ${ALL_WORKLOADS[*]})"
done

json_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$@"; }

RATE=""
for w in "${WORKLOADS[@]}"; do
    extra=()
    if [[ $w == openloop ]]; then
        # Half of memcached's median closed-loop throughput in the first workload.
        RATE=$(awk -F'\t' '$1=="get90" && $2=="memcached" {print $4}' "$RESULTS" | sort -n |
            awk '{v[NR]=$1} END {if (NR) print int(v[int((NR+1)/2)] / 2)}')
        [[ -n $RATE && $RATE -gt 0 ]] || die "no memcached throughput to base the open-loop rate on"
        extra=(--rate "$RATE")
        DESC[openloop]="open loop at $RATE req/s (half memcached's max)"
    fi
    echo "== $w: ${DESC[$w]}" >&2
    printf '%s\t%s\n' "$w" "${DESC[$w]}" >>"$OUT/desc.tsv"
    # Both servers start fresh for each workload and get the same data before any round;
    # the prefill is not measured. Rounds then alternate A B A B so drift hits both alike.
    declare -A PORTS=() PIDS=()
    for name in "${SERVERS[@]}"; do
        start_server "$name"
        PORTS[$name]=$PORT
        PIDS[$name]=$SERVER_PID
        # shellcheck disable=SC2086
        KEYSPACE=${PREFILL_KEYS[$w]:-} loadgen ${FLAGS[$w]} --prefill -n 0 --json-out "$OUT/$w-$name-prefill.json" >/dev/null ||
            die "prefill of $name failed"
    done
    for r in $(seq 1 "$ROUNDS"); do
        for name in "${SERVERS[@]}"; do
            PORT=${PORTS[$name]}
            SERVER_PID=${PIDS[$name]}
            ops0=$(server_ops)
            cpu0=$(server_cpu_ticks)
            json=$OUT/$w-$name-$r.json
            rc=0
            # shellcheck disable=SC2086
            loadgen ${FLAGS[$w]} "${extra[@]}" --test-time "$DURATION" --json-out "$json" \
                >"$OUT/$w-$name-$r.txt" 2>"$OUT/$w-$name-$r.err" || rc=$?
            # 3 = some requests were answered with errors: counted in the JSON, still comparable.
            if [[ $rc == 3 ]]; then
                echo "   WARNING: $name answered some requests with errors: $(tail -1 "$OUT/$w-$name-$r.err")" >&2
            elif [[ $rc != 0 ]]; then
                cat "$OUT/$w-$name-$r.err" >&2
                die "loadgen failed against $name ($w round $r, exit $rc)"
            fi
            ops1=$(server_ops)
            cpu1=$(server_cpu_ticks)
            rss=$(server_rss_kb)
            read -r ops p50 p99 p999 unsent < <(json_field "$json" \
                '"%s %s %s %s %s" % (d["ops_per_sec"], d["latency_us"]["p50"], d["latency_us"]["p99"], d["latency_us"]["p999"], d["unsent_backlog"])')
            [[ $unsent == 0 ]] || echo "   WARNING: $name fell behind the rate: $unsent requests never sent" >&2
            dops=$((ops1 - ops0))
            cpu_us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$dops" 'BEGIN {printf "%.3f", n ? t / hz * 1e6 / n : 0}')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$name" "$r" "$ops" "$p50" "$p99" "$p999" "$cpu_us" "$rss" >>"$RESULTS"
            printf '   %-10s round %s: %10.0f ops/s  p99 %8.1f us  %6s us cpu/req  server counted %s\n' \
                "$name" "$r" "$ops" "$p99" "$cpu_us" "$dops" >&2
        done
    done
    cleanup
    unset PORTS PIDS
done

echo
echo "## corecached vs memcached (medians of $ROUNDS rounds, ${DURATION}s each; -m $MEMORY -t $THREADS; servers on core $SERVER_CORE, loadgen on core $CLIENT_CORE, $CONNS connections, $KEYS keys)"
echo
python3 - "$RESULTS" "$OUT/desc.tsv" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
desc = dict(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[2]) if l.strip())
metrics = [("ops/s", 3, "{:.0f}"), ("p50 us", 4, "{:.1f}"), ("p99 us", 5, "{:.1f}"),
           ("p99.9 us", 6, "{:.1f}"), ("server CPU us/req", 7, "{:.3f}"),
           ("server RSS MiB", 8, "{:.1f}")]
print("| workload | metric | memcached | corecached | corecached/memcached |")
print("|---|---|---:|---:|---:|")
for w in desc:
    wr = [r for r in rows if r[0] == w]
    if not wr:
        continue
    for (m, i, fmt) in metrics:
        vals = {}
        for s in ("memcached", "corecached"):
            xs = [float(r[i]) for r in wr if r[1] == s]
            if xs:
                v = statistics.median(xs)
                vals[s] = v / 1024 if m == "server RSS MiB" else v
        mc = fmt.format(vals["memcached"]) if "memcached" in vals else "-"
        cc = fmt.format(vals["corecached"]) if "corecached" in vals else "skipped"
        ratio = "{:.2f}".format(vals["corecached"] / vals["memcached"]) \
            if "corecached" in vals and vals.get("memcached") else "-"
        print(f"| {desc[w]} | {m} | {mc} | {cc} | {ratio} |")
EOF
echo
echo "Per-run JSON and text output: $OUT" >&2
