#!/usr/bin/env bash
# Stands in for memcached-debug under memcached's t/ harness (t/lib/MemcachedTest.pm starts
# "$builddir/memcached-debug ARGS"): translates the few memcached flags corecached spells
# differently, then execs corecached. CORECACHED_BIN picks the binary; by default the
# release build of this checkout.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
bin="${CORECACHED_BIN:-$here/../../target/release/corecached}"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    # UDP is not served: the harness asks for a UDP port on every start.
    -U) shift 2; continue ;;
    -U*) shift; continue ;;
  esac
  args+=("$1")
  shift
done
exec "$bin" "${args[@]}"
