#!/usr/bin/env bash
# Stands in for memcached's timedrun (t/lib/MemcachedTest.pm runs "timedrun SECS CMD..."):
# runs CMD, killed after SECS so a hung server cannot hang the suite.
set -euo pipefail
secs="$1"
shift
# --foreground keeps the server in the caller's process group, so a tally that times out a
# whole test file (timeout signals its group) stops the server too.
exec timeout --foreground --signal=INT --kill-after=5 "$secs" "$@"
