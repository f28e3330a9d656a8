#!/usr/bin/env bash
# Stands in for memcached's timedrun (t/lib/MemcachedTest.pm runs "timedrun SECS CMD..."):
# runs CMD, killed after SECS so a hung server cannot hang the suite.
set -euo pipefail
secs="$1"
shift
exec timeout --signal=INT --kill-after=5 "$secs" "$@"
