#!/usr/bin/env python3
"""Writes the starting corpus of each fuzz target: one well-formed input per message kind,
so the fuzzer begins inside every branch of the parsers instead of searching for them.
Run from fuzz/; the minimised corpus that a long run grows from these is what is checked in."""
import os
import struct

def u32(n): return struct.pack("<I", n)
def u64(n): return struct.pack("<Q", n)
def u16(n): return struct.pack("<H", n)
def lp(b): return u32(len(b)) + b

NOW_V = (1_800_000_000_000 << 20) | 7

def record(kind, seq, body): return u32(len(body) + 9) + bytes([kind]) + u64(seq) + body
def rec_set(key, value, seq=1, version=NOW_V, flags=0, exptime=0):
    return record(5, seq, u64(version) + u32(flags) + u32(exptime) + lp(key) + lp(value))
def rec_delete(key, seq=2, version=NOW_V): return record(6, seq, u64(version) + lp(key))
def rec_flush(seq=3, before=NOW_V, at=0): return record(7, seq, u64(before) + u32(at))
def frame(kind, body): return u32(len(body) + 1) + bytes([kind]) + body
challenge = frame(1, b"CCR1" + bytes(range(16)) + u64(99) + bytes([3]))
hello = frame(2, b"CCR1" + u64(42) + bytes([1]) + u16(0) + u16(4) + bytes(32))
welcome = frame(3, u64(0))
refused = frame(4, lp(b"wrong or missing replication secret"))
snap_begin, snap_end = frame(8, b""), frame(9, u64(5))
def ack(seq): return frame(10, u64(seq))

text = {
    "get": b"get k\r\n", "gets": b"gets a b c\r\n", "gat": b"gat 10 k\r\n", "gats": b"gats 0 a b\r\n",
    "set": b"set k 0 0 5\r\nhello\r\n", "set_noreply": b"set k 1 2 1 noreply\r\nx\r\n",
    "add": b"add k 0 0 0\r\n\r\n", "cas": b"cas k 0 0 1 77\r\nx\r\n",
    "append": b"append k 0 0 2\r\nab\r\n", "prepend": b"prepend k 0 0 2\r\nab\r\n",
    "replace": b"replace k 0 0 1\r\nx\r\n", "delete": b"delete k\r\ndelete k 0 noreply\r\n",
    "incr": b"incr k 5\r\ndecr k 18446744073709551615 noreply\r\n", "touch": b"touch k -1\r\n",
    "flush": b"flush_all\r\nflush_all 10 noreply\r\n", "misc": b"version\r\nverbosity 1\r\nquit\r\n",
    "stats": b"stats\r\nstats slabs\r\nlru_crawler metadump all\r\n",
    "shutdown": b"shutdown graceful\r\n", "http": b"GET / HTTP/1.1\r\n",
    "bad_chunk": b"set k 0 0 3\r\nabcde\r\n", "need_data": b"set k 0 0 100\r\nabc",
    "pipeline": b"get a\r\nset b 0 0 1\r\nx\r\nget a b\r\nmn\r\n",
    "long_key": b"get " + b"k" * 251 + b"\r\n",
}
ops = {
    "get": bytes([0]) + lp(b"k") + bytes([1]) + u32(10), "store": bytes([1, 5]) + u64(9) + lp(b"k") + u32(1) + u32(0) + lp(b"v"),
    "too_large": bytes([2, 0]) + lp(b"k"), "delete": bytes([3]) + lp(b"k"),
    "arith": bytes([4, 1]) + lp(b"k") + u64(3), "touch": bytes([5]) + lp(b"k") + u32(5),
    "flush": bytes([6]) + u32(0), "stats": bytes([7, 8]), "apply": bytes([9]) + lp(rec_set(b"k", b"v")),
    "dump": bytes([10]) + u64(3), "hit": bytes([0]) + lp(b"k") + u32(0) + u64(5) + lp(b"v"),
    "stored": bytes([2, 0]), "arith_out": bytes([5, 0]) + u64(7), "lines": bytes([6]) + lp(b"key=k\n"),
}
records = {"set": rec_set(b"k", b"value"), "delete": rec_delete(b"k"), "flush": rec_flush(),
           "log": rec_set(b"a", b"1") + rec_delete(b"a") + rec_flush()}
wire = {"challenge": challenge, "hello": hello, "welcome": welcome, "refused": refused,
        "snap": snap_begin + rec_set(b"k", b"v", seq=0) + snap_end, "ack": ack(7),
        "stream": rec_set(b"k", b"v") + rec_delete(b"k") + rec_flush(at=1_800_000_100),
        "future": rec_set(b"k", b"v", version=(1 << 64) - 1), "big_value": rec_set(b"k", b"v" * 101),
        "long_key": rec_delete(b"k" * 251)}
handshake = {"receiver": b"\x00" + hello + wire["snap"] + wire["stream"],
             "receiver_slow": b"\x10" + hello + rec_set(b"k", b"v"),
             "sender": b"\x01" + challenge + welcome + ack(1) + ack(2),
             "sender_refused": b"\x03" + challenge + refused,
             "oversized": b"\x00" + u32(128 << 20) + bytes([2]) + bytes(64)}

for target, seeds in {"text_parse": text, "op_codec": ops, "record": records,
                      "repl_wire": wire, "repl_handshake": handshake}.items():
    os.makedirs(f"corpus/{target}", exist_ok=True)
    for name, data in seeds.items():
        with open(f"corpus/{target}/seed-{name}", "wb") as f:
            f.write(data)
