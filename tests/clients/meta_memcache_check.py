"""Basic checks of RevenueCat's meta-memcache client (PyPI `meta-memcache`) against a
server on 127.0.0.1:PORT: every check prints PASS, FAIL or CLIENT-LIMIT (the client cannot
do it against this server: see check_cas), the last line counts them, and the exit status
is 0 only when none fails. Usage: meta_memcache_check.py PORT"""

import socket
import sys
import time

from meta_memcache import (
    CacheClient,
    Key,
    LeasePolicy,
    ServerAddress,
    SetMode,
    StalePolicy,
    connection_pool_factory_builder,
)

port = int(sys.argv[1])
run = f"r{time.monotonic_ns()}_"
client = CacheClient.cache_client_from_servers(
    servers=[ServerAddress(host="127.0.0.1", port=port)],
    connection_pool_factory_fn=connection_pool_factory_builder(recv_timeout=5),
)


def check_set_get():
    assert client.set(run + "a", "hello", ttl=60)
    assert client.get(run + "a") == "hello"
    assert client.set(run + "obj", {"x": [1, 2]}, ttl=60)
    assert client.get(run + "obj") == {"x": [1, 2]}


def check_miss():
    assert client.get(run + "missing") is None


def check_delete():
    client.set(run + "d", "x", ttl=60)
    assert client.delete(run + "d")
    assert client.get(run + "d") is None


def check_add_mode():
    client.set(run + "add", "first", ttl=60)
    assert not client.set(run + "add", "second", ttl=60, set_mode=SetMode.ADD)
    assert client.get(run + "add") == "first"
    assert client.set(run + "add2", "only", ttl=60, set_mode=SetMode.ADD)


class ClientLimit(Exception):
    """A check the client itself cannot do against this server."""


def raw_cas(key):
    """The CAS the server reports for `key`, read without the client."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"mg {key} c\r\n".encode())
        reply = s.recv(256).decode()
    return int(reply.split(" c")[1].split()[0])


def check_cas():
    client.set(run + "cas", "v1", ttl=60)
    value, cas = client.get_cas(run + "cas")
    if cas is None and raw_cas(run + "cas") >= 2**32:
        # meta-memcache-socket 0.3.1 parses the c flag as a 32-bit number; corecached's
        # CAS values are 64-bit clock stamps, so the client drops them.
        raise ClientLimit("the client cannot parse a CAS of 2**32 or more")
    assert value == "v1" and cas
    assert client.set(run + "cas", "v2", ttl=60, cas_token=cas)
    assert not client.set(run + "cas", "v3", ttl=60, cas_token=cas)
    assert client.get(run + "cas") == "v2"


def check_touch():
    client.set(run + "t", "x", ttl=60)
    assert client.touch(run + "t", ttl=120)
    assert not client.touch(run + "t-missing", ttl=120)


def check_counters():
    key = run + "n"
    assert client.delta_initialize_and_get(key, 5, initial_value=10, initial_ttl=60) == 10
    assert client.delta_and_get(key, 5) == 15
    assert client.delta_and_get(key, -20) == 0
    assert client.delta(key, 3)
    assert not client.delta(run + "n-missing", 1)


def check_multi_get_and_binary_keys():
    keys = [run + f"m{i}" for i in range(10)] + [run + "ключ"]
    for k in keys:
        client.set(k, k.upper(), ttl=60)
    got = client.multi_get(keys + [run + "none"])
    assert all(got[Key(k)] == k.upper() for k in keys), got
    assert got[Key(run + "none")] is None


def check_lease_and_stale():
    key = run + "lease"
    lease = LeasePolicy(miss_retries=1, miss_retry_wait=0.01)
    # The first reader of a missing key wins the lease and gets a miss...
    assert client.get_or_lease(key, lease_policy=lease) is None
    assert client.set(key, "fresh", ttl=60)
    assert client.get_or_lease(key, lease_policy=lease) == "fresh"
    # ...an invalidation marks it stale: the next reader wins the recache (a miss), the
    # one after it is served the stale value.
    stale = StalePolicy(mark_stale_on_deletion_ttl=30)
    assert client.invalidate(key, stale_policy=stale)
    assert client.get_or_lease(key, lease_policy=lease) is None
    assert client.get_or_lease(key, lease_policy=lease) == "fresh"


checks = [
    check_set_get,
    check_miss,
    check_delete,
    check_add_mode,
    check_cas,
    check_touch,
    check_counters,
    check_multi_get_and_binary_keys,
    check_lease_and_stale,
]
passed = limited = 0
for check in checks:
    try:
        check()
        passed += 1
        print(f"PASS {check.__name__}")
    except ClientLimit as e:
        limited += 1
        print(f"CLIENT-LIMIT {check.__name__}: {e}")
    except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
        print(f"FAIL {check.__name__}: {e!r}")
print(f"{passed}/{len(checks)} passed, {limited} beyond the client")
sys.exit(0 if passed + limited == len(checks) else 1)
