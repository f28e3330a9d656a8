#!/usr/bin/env bash
# Stands in for memcached-debug under memcached's t/ harness (t/lib/MemcachedTest.pm starts
# "$builddir/memcached-debug ARGS"): execs corecached with memcached's flags as given (it
# takes them all, -U included). CORECACHED_BIN picks the binary; by default the release
# build of this checkout.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
bin="${CORECACHED_BIN:-$here/../../target/release/corecached}"
exec "$bin" "$@"
