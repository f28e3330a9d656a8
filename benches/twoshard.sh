#!/usr/bin/env bash
# Both shards working (issue 11's last row): corecached -t 2 against memcached -t 2 on this
# host, both unpinned, loadgen -t 2 at nice 19 with CONNS connections in all (default 100, half per thread),
# depth 1, 90 % gets, 32 B values, 10,000 keys prefilled; SECS per run, ROUNDS of A B.
# Prints each run and the medians, and corecached's ops/s as a ratio of memcached's.
# CC_PRE and MC_PRE, when set, go before each server's command (e.g. 'chrt -b 0' runs it
# under SCHED_BATCH, to compare scheduling policies).
# Usage: bash benches/twoshard.sh [SECS, 4] [ROUNDS, 5] [CONNS, 100]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-4}; rounds=${2:-5}; conns=${3:-100}
cc=${CC_BIN:-target/release/corecached}; lg=${LG:-target/release/loadgen}
json=$(mktemp); trap 'rm -f "$json"' EXIT
source benches/lib.sh
run() { # kind -> "ops p50"
    local port pid
    port=$(free_port)
    case $1 in
        corecached) ${CC_PRE:-} "$cc" -p "$port" -l 127.0.0.1 -t 2 -m 256 >/dev/null 2>&1 & ;;
        memcached) ${MC_PRE:-} /usr/bin/memcached -u nobody -p "$port" -l 127.0.0.1 -t 2 -m 256 -U 0 >/dev/null 2>&1 & ;;
    esac
    pid=$!
    wait_port "$port"
    nice -n 19 "$lg" -s "127.0.0.1:$port" -t 2 -c 8 --key-space 10000 --prefill -n 1 >/dev/null 2>&1
    nice -n 19 "$lg" -s "127.0.0.1:$port" -t 2 -c "$((conns / 2))" --key-space 10000 --ratio 1:9 \
        --data-size 32 --test-time "$secs" --json-out "$json" >/dev/null 2>&1
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    python3 -c "import json; j=json.load(open('$json')); print(round(j['ops_per_sec']), j['latency_us']['p50'])"
}
echo "# twoshard: -t 2 both, $conns connections, depth 1, $secs s x $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
cc_ops=(); mc_ops=(); cc_p50=(); mc_p50=()
for _ in $(seq "$rounds"); do
    read -r o p < <(run corecached); cc_ops+=("$o"); cc_p50+=("$p"); echo "corecached $o ops/s p50 $p us"
    read -r o p < <(run memcached); mc_ops+=("$o"); mc_p50+=("$p"); echo "memcached  $o ops/s p50 $p us"
done
python3 - "${cc_ops[*]}" "${mc_ops[*]}" "${cc_p50[*]}" "${mc_p50[*]}" <<'PY'
import sys, statistics as st
co, mo, cp, mp = ([float(x) for x in a.split()] for a in sys.argv[1:5])
print(f"median ops/s: corecached {st.median(co):.0f}, memcached {st.median(mo):.0f}, ratio {st.median(co)/st.median(mo):.2f}")
print(f"median p50 us: corecached {st.median(cp):.1f}, memcached {st.median(mp):.1f}, ratio {st.median(cp)/st.median(mp):.2f}")
print("per-pair ops ratios:", " ".join(f"{c/m:.2f}" for c, m in zip(co, mo)))
PY
