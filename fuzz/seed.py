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

meta = {
    "mg": b"mg k v\r\n", "mg_flags": b"mg k s t c f l h v k Oab q T30 N10 R5 u\r\n",
    "mg_b": b"mg Zm9v b k v\r\n", "mg_bad_b": b"mg Zm9v= b\r\n", "mg_dup": b"mg k v v\r\n",
    "ms": b"ms k 5 T0 F3 c k O1\r\nhello\r\n", "ms_q": b"ms k 1 q MA I\r\nx\r\n",
    "ms_modes": b"ms k 2 ME\r\nab\r\nms k 2 MS C99\r\nab\r\nms k 2 MX\r\nab\r\n",
    "ms_bad_chunk": b"ms k 3\r\nabcde\r\n", "ms_need": b"ms k 100 T1\r\nabc",
    "ms_b": b"ms Zm9vYmFy 3 b k\r\nabc\r\n", "md": b"md k q C5 I T30 O9 k\r\n",
    "md_dup": b"md k q q\r\n", "ma": b"ma k N0 J13 D7 MD v t c\r\n", "ma_mode": b"ma k MI\r\nma k M+\r\n",
    "ma_bad": b"ma k Dx\r\nma k J-1\r\n", "mn": b"mn\r\n", "me": b"me k\r\nme Zm9v b\r\nme\r\n",
    "opaque_long": b"mg k O" + b"9" * 33 + b"\r\n", "too_many": b"mg k " + b" ".join(b"O%d" % i for i in range(19)) + b"\r\n",
    "long_key": b"mg " + b"k" * 251 + b" v\r\n", "unknown": b"mx k\r\nmg k !\r\n",
    "pipeline": b"ms a 1 q\r\n1\r\nmg a v q\r\nma a q\r\nmd a q\r\nmn\r\n",
}

def bin_req(op, key=b"", ext=b"", value=b"", opaque=0x01020304, cas=0):
    body = len(ext) + len(key) + len(value)
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(ext), 0, 0, body, opaque, cas) + ext + key + value
setx = struct.pack(">II", 5, 0)
arith = struct.pack(">QQI", 3, 10, 0)
binary = {
    "get": b"\x00" + bin_req(0x00, b"k"), "getkq": b"\x00" + bin_req(0x0d, b"k") + bin_req(0x0a),
    "set": b"\x00" + bin_req(0x01, b"k", setx, b"value"), "setq_cas": b"\x00" + bin_req(0x11, b"k", setx, b"v", cas=9),
    "add_replace": b"\x00" + bin_req(0x02, b"k", setx, b"v") + bin_req(0x13, b"k", setx, b"v"),
    "append": b"\x00" + bin_req(0x0e, b"k", value=b"ab") + bin_req(0x1a, b"k", value=b"c"),
    "delete": b"\x00" + bin_req(0x04, b"k") + bin_req(0x14, b"k", cas=3),
    "incr": b"\x00" + bin_req(0x05, b"k", arith) + bin_req(0x16, b"k", struct.pack(">QQI", 1, 0, 0xffffffff)),
    "touch_gat": b"\x00" + bin_req(0x1c, b"k", struct.pack(">I", 10)) + bin_req(0x24, b"k", struct.pack(">I", 0)),
    "flush": b"\x00" + bin_req(0x08) + bin_req(0x18, ext=struct.pack(">I", 30)),
    "misc": b"\x00" + bin_req(0x0a) + bin_req(0x0b) + bin_req(0x10) + bin_req(0x10, b"items") + bin_req(0x1b, ext=struct.pack(">I", 1)) + bin_req(0x07),
    "sasl": b"\x01" + bin_req(0x20) + bin_req(0x21, b"PLAIN", value=b"\0user\0pass") + bin_req(0x22, b"PLAIN", value=b"x") + bin_req(0x00, b"k"),
    "unknown": b"\x00" + bin_req(0x50, b"abc", value=b"xy") + bin_req(0x0a),
    "bad_lengths": b"\x00" + struct.pack(">BBHBBHIIQ", 0x80, 0, 5, 0, 0, 0, 2, 0, 0) + b"kkkkk",
    "long_key": b"\x00" + bin_req(0x00, b"k" * 251), "bad_magic": b"\x00" + b"\x81" + bytes(23),
    "need_value": b"\x00" + bin_req(0x01, b"k", setx, b"value")[:-3], "text": b"\x00get k\r\n",
}

for target, seeds in {"text_parse": text, "op_codec": ops, "record": records,
                      "repl_wire": wire, "repl_handshake": handshake,
                      "meta_parse": meta, "binary_parse": binary}.items():
    os.makedirs(f"corpus/{target}", exist_ok=True)
    for name, data in seeds.items():
        with open(f"corpus/{target}/seed-{name}", "wb") as f:
            f.write(data)
