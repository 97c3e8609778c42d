#!/usr/bin/env bash
# Runs every test binary of a build and ends with "N passed, N failed".
# Usage: tests/run-tests.sh BUILD_DIR
set -u
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
export PHIGATE_BIN="$root/$build/phigate"
export PHIGATE_MOCK_BIN="$root/$build/phigate-mock-provider"
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for bin in "$root/$build"/tests/unit_* "$root/$build"/tests/integration_*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue  # not the *.p object dirs
  name=$(basename "$bin")
  echo "== $name"
  "$bin" --gtest_brief=1 >"$log" 2>&1
  rc=$?
  cat "$log"
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\?.*/\1/p' "$log" | tail -1)
  # --gtest_brief prints one "[  FAILED  ] Suite.Test (N ms)" line per failure.
  f=$(grep -cE '^\[  FAILED  \] .* \([0-9]+ ms\)$' "$log")
  p=${p:-0}
  f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "!! $name exited with status $rc without a gtest summary (crash?)"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
done
# The benchmarks must keep measuring what they claim (an accepted request):
# one short run of each, counted as a test. Timings are not judged here.
for bench in "$root/$build"/bench/bench_*; do
  [ -f "$bench" ] && [ -x "$bench" ] || continue
  name=$(basename "$bench")
  echo "== $name (smoke run)"
  if "$bench" --benchmark_min_time=0.01 --benchmark_repetitions=1 >"$log" 2>&1 &&
     ! grep -q "ERROR OCCURRED" "$log"; then
    passed=$((passed + 1))
  else
    cat "$log"
    echo "!! $name failed"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
