#!/usr/bin/env bash
# Runs each of memcached's t/*.t files (or those named) against corecached, one `prove` per
# file with a time limit, and prints one line per file: name, ok/FAIL, and prove's summary.
# How docs/compatibility.md's table was made: `tests/memcached_suite/tally.sh > tally.txt`.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${MEMCACHED_SUITE_SRC:-$("$here/fetch.sh")}"
ln -sf "$here/wrapper.sh" "$src/memcached-debug"
ln -sf "$here/timedrun.sh" "$src/timedrun"
cd "$src"
files=("$@")
[ ${#files[@]} -gt 0 ] || files=($(cd t && ls *.t))
for f in "${files[@]}"; do
  out=$(timeout "${TALLY_SECS:-90}" prove "t/$f" 2>&1 | tr -d "\000")
  rc=$?
  if [ $rc = 0 ] && printf '%s\n' "$out" | grep -q "skipped:"; then
    echo "$f skip $(printf '%s\n' "$out" | grep -o "skipped:.*" | head -1 | cut -c1-150)"
  elif [ $rc = 0 ]; then
    echo "$f ok"
  else
    why=$(printf '%s\n' "$out" | grep -E "Failed [0-9]+/|Failed tests?:|Bad plan|Non-zero exit|skipped" | tr '\n' ' ' | cut -c1-200)
    echo "$f FAIL(rc=$rc) $why"
  fi
done
