"""Sorts `perf script -F comm,period,ip,sym` call chains (stdin) of the shard threads into
what the server was doing, and prints user-space nanoseconds per request for each: each
sample weighs its period (cpu-clock's, in ns).

Usage: perf script ... | python3 benches/hopprof.py OPS_PER_SEC SECONDS
(benches/hopprof.sh runs it)."""
import collections
import sys

# First match wins: (activity, substrings any of which the chain must hold).
OWNER = [
    # Before the schedule's rules: the schedule takes its keys by decoding the ops too.
    ("owner: decoding the ops", ("OpIter", "decode_op")),
    ("owner: first loads of its schedule (Lookahead::new)", ("Lookahead<I>::new",)),
    ("owner: latency record", ("record_latency",)),
    ("owner: store and wording (Shard::run)", ("Shard::run",)),
    ("owner: its schedule's later loads (Lookahead::step)", ("Lookahead<I>::step",)),
    ("owner: copying the asker's answers", ("memcpy", "memmove")),
    ("owner: the rest of answer_whole", ("answer_whole",)),
    ("owner: writing the answer", ("finish",)),
    ("owner: other", ("",)),
]
CONN = [
    ("asker: store and wording (Shard::run)", ("Shard::run",)),
    ("asker: building the handoff", ("take_whole", "hand_off", "send_whole", "send_handoff")),
    ("asker: routing", ("route",)),
    ("asker: parsing", ("parse",)),
    ("asker: pipeline lookahead", ("PipelineAhead",)),
    ("asker: taking the socket back", ("take_back", "or_left", "poll_done")),
    ("asker: other", ("",)),
]


def activity(chain):
    text = " ".join(chain)
    if "serve_requests" in text:
        table = OWNER
    elif "Conn::run" in text or "conn::serve" in text:
        table = CONN
    elif "flush_loop" in text:
        return "flush of the outgoing queues"
    elif "Shard::deliver" in text or "shard_main" in text:
        return "delivering replies to waiting connections"
    elif "RawTask<F,R,S>::run" in text:
        return "other tasks (reclaim, tick hold, ...)"
    elif "run_task_queues" in text or "run_one_task" in text:
        return "runtime: executor"
    elif "eactor" in text or "park" in text:
        return "runtime: reactor (rings, timers, sleeps)"
    else:
        return "other"
    for name, marks in table:
        if any(m in text for m in marks):
            return name
    return "other"


def main():
    ops, secs = float(sys.argv[1]), float(sys.argv[2])
    ns = collections.Counter()
    for block in sys.stdin.read().split("\n\n"):
        lines = block.strip().split("\n")
        head = lines[0].split()
        if len(lines) < 2 or len(head) < 2 or not head[0].startswith("shard"):
            continue
        chain = [" ".join(l.split()[1:]).split("(")[0] for l in lines[1:]]
        ns[activity(chain)] += int(head[1])
    per = 1 / (ops * secs)
    print(f"{sum(ns.values()) * per:7.1f} ns per request in all")
    for name, n in ns.most_common():
        print(f"{n * per:7.1f}  {name}")


if __name__ == "__main__":
    main()
