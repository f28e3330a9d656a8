#!/usr/bin/env bash
# A short pass of every fuzz target (docs/security.md, "Fuzzing"): each replays its
# checked-in corpus through its assertions, then fuzzes for a few seconds. New inputs go to
# a scratch directory, never into fuzz/corpus. Without cargo-fuzz it skips, unless CI=true,
# where it installs the pinned version. Usage: bash fuzz/smoke.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")"

CARGO_FUZZ_VERSION=0.13.2
secs=${1:-5}

if ! cargo fuzz --version >/dev/null 2>&1; then
  if [ "${CI:-}" != true ]; then
    echo "fuzz smoke: skipped (no cargo-fuzz; cargo install cargo-fuzz --locked --version $CARGO_FUZZ_VERSION)"
    exit 0
  fi
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# cargo-fuzz passes -Z flags; the one stable toolchain accepts them under RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
# The same build as the long runs: no sanitizer (the code under test is safe Rust; without
# AddressSanitizer it runs 4-7x faster and builds in a third less time), and this crate's
# release profile, which keeps debug assertions and overflow checks on.
cargo fuzz build -O --sanitizer none
bin=target/x86_64-unknown-linux-gnu/release
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

failed=()
targets=$(cargo fuzz list)
for t in $targets; do
  mkdir -p "$scratch/$t" "$scratch/artifacts-$t"
  if "$bin/$t" -max_total_time="$secs" -print_final_stats=1 \
      -artifact_prefix="$scratch/artifacts-$t/" "$scratch/$t" "corpus/$t" \
      >"$scratch/$t.log" 2>&1; then
    echo "fuzz smoke: $t ok ($(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$scratch/$t.log" | grep -o '[0-9]*$') runs)"
  else
    tail -n 40 "$scratch/$t.log"
    echo "fuzz smoke: $t FAILED; the input that failed is printed above (base64 in the log)"
    failed+=("$t")
  fi
done
[ ${#failed[@]} = 0 ] || { echo "fuzz smoke: FAILED: ${failed[*]}"; exit 1; }
echo "fuzz smoke: all $(echo $targets | wc -w) targets ok"
