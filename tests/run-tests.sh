#!/usr/bin/env bash
# Runs every test binary of a build and ends with "N passed, N failed".
# Usage: tests/run-tests.sh BUILD_DIR
set -u
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
export PHIGATE_BIN="$root/$build/phigate"
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
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\?,.*/\1/p; s/^ *\([0-9][0-9]*\) FAILED TESTS\?$/\1/p' "$log" | tail -1)
  p=${p:-0}
  f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "!! $name exited with status $rc without a gtest summary (crash?)"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
