#!/usr/bin/env bash
# Fetches Debian's memcached 1.6.18 source package (its t/ suite is the compatibility bar,
# issue 15) into a cache dir, with apt's own tools and a private sources list, so the
# system's apt state is left alone. Prints the unpacked source dir.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${MEMCACHED_SUITE_CACHE:-$here/../../target/memcached-src}"
version=1.6.18
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
src="$cache/memcached-$version"
if [ -f "$src/t/lib/MemcachedTest.pm" ]; then
  echo "$src"
  exit 0
fi
state="$cache/apt"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
# bookworm carries 1.6.18; deb-src from Debian's own mirror only.
echo "deb-src http://deb.debian.org/debian bookworm main" >"$state/sources.list"
opts=(-o "Dir::Etc::SourceList=$state/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
  -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")
apt-get "${opts[@]}" update -qq >&2
# --only-source: without it apt maps the name through the installed binary package and asks
# for that version (1.6.18-1+deb12u1 from bookworm-security), which bookworm main lacks.
(cd "$cache" && apt-get "${opts[@]}" source --only-source -qq "memcached=$version-1" >&2)
found=$(ls -d "$cache"/memcached-1.6.18* 2>/dev/null | head -1)
[ -n "$found" ] && [ "$found" != "$src" ] && mv "$found" "$src"
[ -f "$src/t/lib/MemcachedTest.pm" ] || { echo "no t/ suite in $src" >&2; exit 1; }
echo "$src"
