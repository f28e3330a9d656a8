#!/usr/bin/env bash
# Runs memcached's t/ files against corecached: `run.sh [FILE.t ...]` (default: every file in
# tests/memcached_suite/passing.txt). Fetches the source on first use (fetch.sh), links the
# wrapper and timedrun where the harness looks for them, and runs `prove` from the source
# dir, as memcached's `make test` does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${MEMCACHED_SUITE_SRC:-$("$here/fetch.sh")}"
ln -sf "$here/wrapper.sh" "$src/memcached-debug"
ln -sf "$here/timedrun.sh" "$src/timedrun"
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  mapfile -t files < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/passing.txt")
fi
cd "$src"
# Three files at a time: the suite mostly sleeps, and each file starts its own servers on
# free ports.
exec prove ${PROVE_FLAGS:--j3} "${files[@]/#/t/}"
