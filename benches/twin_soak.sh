#!/usr/bin/env bash
# Twin soak: a pair of corecached nodes under a steady mixed load for DURATION seconds, then a
# key-by-key comparison of the two.
#
#   node A and node B (-t SHARDS_A / SHARDS_B, each naming the other with --twin), all
#   processes pinned to CPUS (one core by default, so the run takes from one core only);
#   load on A for DURATION s:
#     - loadgen, open loop at RATE req/s (SET:GET = RATIO, values VALUES bytes derived from
#       the key, KEYS keys, 50 connections); its per-second timeline is the throughput record;
#     - a deleter at DEL_RATE deletes/s over the same keys (batches every 10 ms, replies read);
#     - a sampler, once a second: A's cmd_set/cmd_get/cmd_delete-ish counters and both
#       nodes' `stats replication` (lag_us, lag_records, links_streaming, full_resyncs).
#   (The key space is filled through A first, before any of this starts.)
#   Then: wait (up to 60 s) for lag_records 0 on both nodes, and compare them:
#     - `lru_crawler metadump all` on both: every key with its CAS, expiry and size;
#     - every key of the key space fetched from both with `gets`: same value, flags and CAS.
#   A CAS is the item's version plus its shard's index: equal on both nodes when they run
#   the same shard count, else compared with that much slack.
#
# Pass criteria, printed at the end (exit status 1 if any fails):
#   - no second of loadgen's timeline below half its median ops/s (and none at 0: a stall);
#   - the deleter kept its rate (no second below half its median);
#   - both links streamed all along, with no full resync after the first;
#   - the nodes converged: same keys, versions, expiries, sizes, values and flags.
#
# Bounded: loadgen and the deleter stop by themselves after DURATION; the whole script runs
# under a watchdog of DURATION + 300 s. Only processes this script started are killed.
#
# Usage, from the repository root after `cargo build --release --workspace`:
#   bash benches/twin_soak.sh                 # 30 minutes
#   DURATION=20 bash benches/twin_soak.sh     # a quick check of the script
# Environment (defaults): DURATION=1800 RATE=5000 RATIO=1:3 DEL_RATE=250 KEYS=100000
#   VALUES=32-1024 SHARDS_A=1 SHARDS_B=2 CPUS=1 OUT=<new temp dir> CORECACHED_BIN LOADGEN_BIN
# The defaults fit in a share of one core of a host that builds on both (A's one shard
# streams to B's two, so B routes the twin's writes across its shards); raise RATE on a
# quiet host.
set -euo pipefail

DURATION=${DURATION:-1800}
RATE=${RATE:-5000}
RATIO=${RATIO:-1:3}
DEL_RATE=${DEL_RATE:-250}
KEYS=${KEYS:-100000}
VALUES=${VALUES:-32-1024}
SHARDS_A=${SHARDS_A:-1}
SHARDS_B=${SHARDS_B:-2}
CPUS=${CPUS:-1}
TARGET=${CARGO_TARGET_DIR:-target}
CC=${CORECACHED_BIN:-$TARGET/release/corecached}
LG=${LOADGEN_BIN:-$TARGET/release/loadgen}
OUT=${OUT:-$(mktemp -d /tmp/twin_soak.XXXXXX)}
mkdir -p "$OUT"

die() { echo "twin_soak.sh: $*" >&2; exit 2; }
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

# The watchdog: ends this script (and through the trap, what it started) if anything hangs.
SELF=$$
(sleep $((DURATION + 300)) && echo "twin_soak.sh: watchdog fired" >&2 && kill -TERM "$SELF") &
WATCHDOG=$!
STARTED+=("$WATCHDOG")

HELP=$OUT/soak.py
cat >"$HELP" <<'EOF'
import random, socket, statistics, sys, time

def ports(n):
    # Free ports below Linux's ephemeral range, so outgoing connections cannot take them.
    got = []
    while len(got) < n:
        p = random.randint(10000, 32000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p)); got.append(p) if p not in got else None
        except OSError:
            pass
        finally:
            s.close()
    print(" ".join(map(str, got)))

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
    def send(self, b): self.s.sendall(b)
    def until(self, end):
        while end not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk: raise OSError("closed")
            self.buf += chunk
        i = self.buf.index(end) + len(end)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out
    def line(self): return self.until(b"\r\n")
    def stats(self, sub=""):
        self.send(b"stats %s\r\n" % sub.encode() if sub else b"stats\r\n")
        text = self.until(b"END\r\n")
        return {l.split()[1].decode(): l.split()[2].decode() for l in text.splitlines() if l.startswith(b"STAT ")}

def wait_listen(port, secs=15):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close(); return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")

def wait_streaming(port, shards, secs=30):
    c = Conn(port); end = time.time() + secs
    while time.time() < end:
        if int(c.stats("replication").get("links_streaming", 0)) == shards: return
        time.sleep(0.05)
    sys.exit(f"node {port}: links not streaming after {secs}s")

def deleter(port, rate, secs, keys, out):
    # DEL_RATE deletes/s in batches every 10 ms, each batch's replies read before the next;
    # per second: how many were answered.
    c = Conn(port); rng = random.Random(7); t0 = time.time(); sec = 0; n = 0; done = []
    step = sent = 0
    while True:
        now = time.time() - t0
        if now >= secs: break
        if int(now) > sec:
            done.append(n); n = 0; sec = int(now)
        per = max(1, int((step + 1) * rate / 100) - sent); sent += per
        req = b"".join(b"delete key:%d\r\n" % rng.randrange(keys) for _ in range(per))
        c.send(req)
        for _ in range(per):
            l = c.line()
            if l not in (b"DELETED\r\n", b"NOT_FOUND\r\n"): sys.exit(f"delete: {l!r}")
        n += per
        step += 1
        time.sleep(max(0, step * 0.01 - (time.time() - t0)))
    with open(out, "w") as f:
        f.write("\n".join(map(str, done)) + "\n")

def sampler(a_port, b_port, secs, out):
    # once a second: t, A's cmd_get cmd_set delete_hits+delete_misses, then for A and B:
    # links_streaming lag_records lag_us full_resyncs curr_items
    a, b = Conn(a_port), Conn(b_port); t0 = time.time(); n = 0
    with open(out, "w") as f:
        while time.time() - t0 < secs:
            n += 1
            sa = a.stats(); ra = a.stats("replication"); sb = b.stats(); rb = b.stats("replication")
            dels = int(sa["delete_hits"]) + int(sa["delete_misses"])
            row = [f"{time.time() - t0:.2f}", sa["cmd_get"], sa["cmd_set"], str(dels)]
            for r, s in ((ra, sa), (rb, sb)):
                row += [r["links_streaming"], r["lag_records"], r["lag_us"], r["full_resyncs"], s["curr_items"]]
            f.write(" ".join(row) + "\n"); f.flush()
            time.sleep(max(0, t0 + n - time.time()))

def drain(a_port, b_port, secs=60):
    # seconds until both nodes report lag_records 0 (then a little more for the last acks)
    a, b = Conn(a_port), Conn(b_port); t0 = time.time()
    while time.time() - t0 < secs:
        if a.stats("replication")["lag_records"] == "0" and b.stats("replication")["lag_records"] == "0":
            print("%.2f" % (time.time() - t0)); return
        time.sleep(0.05)
    print("timeout")

def metadump(port):
    c = Conn(port); c.send(b"lru_crawler metadump all\r\n")
    text = c.until(b"END\r\n")
    items = {}
    for l in text.splitlines():
        if not l.startswith(b"key="): continue
        f = dict(x.split(b"=", 1) for x in l.split())
        items[f[b"key"]] = (f[b"exp"], f[b"cas"], f[b"size"])
    return items

def fetch_all(port, keys):
    # every key of the key space with gets, 100 per request: key -> (flags, cas, value)
    c = Conn(port); got = {}
    for lo in range(0, keys, 100):
        ks = [b"key:%d" % i for i in range(lo, min(keys, lo + 100))]
        c.send(b"gets " + b" ".join(ks) + b"\r\n")
        while True:
            l = c.line()
            if l == b"END\r\n": break
            _, k, flags, n, cas = l.split()
            v = c.until(b"\r\n")  # values hold no CRLF (loadgen's are printable)
            while len(v) < int(n) + 2: v += c.until(b"\r\n")
            got[k] = (flags, cas, v[:-2])
    return got

def compare(a_port, b_port, keys, slack):
    # A client sees an item's version plus its shard's index as its CAS, so with different
    # shard counts the same version may show CAS values up to `slack` apart.
    def same(x, y, cas_at):
        if x is None or y is None: return x == y
        x, y = list(x), list(y)
        ca, cb = int(x.pop(cas_at)), int(y.pop(cas_at))
        return x == y and abs(ca - cb) <= slack
    ma, mb = metadump(a_port), metadump(b_port)
    only_a = set(ma) - set(mb); only_b = set(mb) - set(ma)
    diff_meta = [k for k in set(ma) & set(mb) if not same(ma[k], mb[k], 1)]
    fa, fb = fetch_all(a_port, keys), fetch_all(b_port, keys)
    diff_val = [k for k in set(fa) | set(fb) if not same(fa.get(k), fb.get(k), 1)]
    print(len(ma), len(mb), len(only_a), len(only_b), len(diff_meta), len(fa), len(fb), len(diff_val))
    for name, ks in (("only on A", only_a), ("only on B", only_b), ("metadata differs", diff_meta), ("value differs", diff_val)):
        for k in sorted(ks)[:5]:
            print(f"  {name}: {k.decode()} A={ma.get(k) or fa.get(k)} B={mb.get(k) or fb.get(k)}", file=sys.stderr)

if __name__ == "__main__":
    f, a = sys.argv[1], sys.argv[2:]
    if f == "ports": ports(int(a[0]))
    elif f == "wait_listen": wait_listen(int(a[0]))
    elif f == "wait_streaming": wait_streaming(int(a[0]), int(a[1]))
    elif f == "deleter": deleter(int(a[0]), int(a[1]), float(a[2]), int(a[3]), a[4])
    elif f == "sampler": sampler(int(a[0]), int(a[1]), float(a[2]), a[3])
    elif f == "drain": drain(int(a[0]), int(a[1]))
    elif f == "compare": compare(int(a[0]), int(a[1]), int(a[2]), int(a[3]))
EOF
py() { taskset -c "$CPUS" python3 "$HELP" "$@"; }

read -r PA RA PB RB < <(py ports 4)
taskset -c "$CPUS" "$CC" -p "$PA" -l 127.0.0.1 -t "$SHARDS_A" -m 1024 -X "$RA" --twin "127.0.0.1:$RB" \
    >>"$OUT/A.log" 2>&1 &
A=$!
STARTED+=("$A")
taskset -c "$CPUS" "$CC" -p "$PB" -l 127.0.0.1 -t "$SHARDS_B" -m 1024 -X "$RB" --twin "127.0.0.1:$RA" \
    >>"$OUT/B.log" 2>&1 &
B=$!
STARTED+=("$B")
py wait_listen "$PA"
py wait_listen "$PB"
py wait_streaming "$PA" "$SHARDS_A"
py wait_streaming "$PB" "$SHARDS_B"
taskset -c "$CPUS" "$LG" -s "127.0.0.1:$PA" -t 1 -c 50 --quiet --ratio 1:0 --data-size-range "$VALUES" \
    --key-space "$KEYS" --prefill -n 1 >"$OUT/prefill.txt" 2>&1 || die "prefill failed (see $OUT/prefill.txt)"
echo "twin soak: A :$PA (-t $SHARDS_A), B :$PB (-t $SHARDS_B), on CPUs $CPUS, $DURATION s; files in $OUT" >&2
date -u +"started %Y-%m-%dT%H:%M:%SZ" >"$OUT/times"

py sampler "$PA" "$PB" "$DURATION" "$OUT/samples.txt" &
SAMP=$!
STARTED+=("$SAMP")
py deleter "$PA" "$DEL_RATE" "$DURATION" "$KEYS" "$OUT/deletes.txt" &
DEL=$!
STARTED+=("$DEL")
taskset -c "$CPUS" "$LG" -s "127.0.0.1:$PA" -t 1 -c 50 --quiet --rate "$RATE" --ratio "$RATIO" \
    --data-size-range "$VALUES" --key-space "$KEYS" --verify --test-time "$DURATION" \
    --json-out "$OUT/loadgen.json" >"$OUT/loadgen.txt" 2>&1 || echo "loadgen failed (see $OUT/loadgen.txt)" >&2
wait "$DEL" || echo "deleter failed" >&2
wait "$SAMP" || echo "sampler failed" >&2
date -u +"load ended %Y-%m-%dT%H:%M:%SZ" >>"$OUT/times"

drain=$(py drain "$PA" "$PB")
read -r ka kb only_a only_b diff_meta fa fb diff_val < <(py compare "$PA" "$PB" "$KEYS" "$((SHARDS_A == SHARDS_B ? 0 : SHARDS_A + SHARDS_B))" 2>"$OUT/compare.txt")
cat "$OUT/compare.txt" >&2
kill "$WATCHDOG" 2>/dev/null || true

python3 - "$OUT" "$DURATION" "$RATE" "$DEL_RATE" "$drain" "$ka" "$kb" "$only_a" "$only_b" "$diff_meta" "$fa" "$fb" "$diff_val" <<'EOF'
import json, statistics as st, sys
out, dur, rate, del_rate, drain = sys.argv[1:6]
ka, kb, only_a, only_b, diff_meta, fa, fb, diff_val = map(int, sys.argv[6:14])
d = json.load(open(out + "/loadgen.json"))
ops = [p["ops_per_sec"] for p in d["timeline"]]
dels = [int(l) for l in open(out + "/deletes.txt") if l.strip()]
rows = [l.split() for l in open(out + "/samples.txt") if l.strip()]
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]
med, worst = st.median(ops), min(ops)
dmed, dworst = st.median(dels), min(dels)
streaming_a = min(int(r[4]) for r in rows); streaming_b = min(int(r[9]) for r in rows)
resync_a = int(rows[-1][7]) - int(rows[0][7]); resync_b = int(rows[-1][12]) - int(rows[0][12])
lag_a = [int(r[6]) for r in rows]; lag_b = [int(r[11]) for r in rows]
lagr_a = [int(r[5]) for r in rows]
lat = d["latency_us"]
checks = [
    ("no second below half the median ops/s", worst >= med / 2, f"median {med:,.0f}, worst {worst:,.0f} ops/s over {len(ops)} s"),
    ("deletes kept their rate", dworst >= dmed / 2, f"median {dmed:,.0f}, worst {dworst:,.0f} deletes/s over {len(dels)} s"),
    ("links streamed all along, no new full resync", streaming_a > 0 and streaming_b > 0 and resync_a == 0 and resync_b == 0,
     f"fewest streaming links A {streaming_a} B {streaming_b}; full resyncs during the run A {resync_a} B {resync_b}"),
    ("no verify mismatch or error", d["verify_mismatches"] == 0 and d["errors"] == 0,
     f"{d['verify_mismatches']} mismatches, {d['errors']} errors, {d['unsent_backlog']} unsent"),
    ("twins converged", drain != "timeout" and only_a == only_b == diff_meta == diff_val == 0 and ka == kb and fa == fb,
     f"drained in {drain} s; metadump A {ka:,} B {kb:,} keys, only on A {only_a}, only on B {only_b}, metadata differs {diff_meta}; gets A {fa:,} B {fb:,}, value/flags/CAS differ {diff_val}"),
]
print(f"### Twin soak: {dur} s, {rate} req/s open loop + {del_rate} deletes/s on A\n")
print("| check | result | figures |\n|---|---|---|")
for name, ok, fig in checks:
    print(f"| {name} | {'pass' if ok else '**FAIL**'} | {fig} |")
print()
print("| figure | p50 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|")
print(f"| loadgen ops/s per second | {med:,.0f} | {pct(ops,.01):,.0f} (1st percentile) | | {max(ops):,.0f} |")
print(f"| request latency µs (whole run) | {lat['p50']:.0f} | {lat['p99']:.0f} | {lat['p999']:.0f} | {lat.get('max', float('nan')):.0f} |")
print(f"| A lag_us, sampled once a second | {pct(lag_a,.5)} | {pct(lag_a,.99)} | {pct(lag_a,.999)} | {max(lag_a)} |")
print(f"| B lag_us, sampled once a second | {pct(lag_b,.5)} | {pct(lag_b,.99)} | {pct(lag_b,.999)} | {max(lag_b)} |")
print(f"| A lag_records | {pct(lagr_a,.5)} | {pct(lagr_a,.99)} | {pct(lagr_a,.999)} | {max(lagr_a)} |")
ok = all(c[1] for c in checks)
print(f"\nresult: {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
EOF
