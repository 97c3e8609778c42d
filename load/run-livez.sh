#!/usr/bin/env bash
# wrk against GET /livez on phigate (one worker) and on nginx (one worker,
# `return 200` with the same security headers), in the same run, each for
# DURATION seconds with CONNS connections. The server is pinned to CPU 0 and
# wrk to CPU 1 where there are two or more CPUs. Prints requests/s, p50/p99
# and the server's own CPU time per request (from /proc/<pid>/stat), which is
# the honest figure when wrk saturates its core first.
# Usage: load/run-livez.sh [BUILD_DIR]   env: DURATION=10 CONNS=64 ROUNDS=3
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
duration=${DURATION:-10}
conns=${CONNS:-64}
rounds=${ROUNDS:-3}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

command -v wrk >/dev/null || { echo "wrk missing: run make setup"; exit 1; }
. "$root/load/nginx-baseline.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pin_server=""; pin_wrk=""
if [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_wrk="taskset -c 1"; fi
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

run_wrk() {  # name pid port
  local before after res ticks hz
  hz=$(getconf CLK_TCK)
  before=$(cpu_ticks "$2")
  res=$($pin_wrk wrk -t1 -c"$conns" -d"${duration}s" -s "$root/load/livez.lua" "http://127.0.0.1:$3/livez" | grep '^RESULT')
  after=$(cpu_ticks "$2")
  ticks=$((after - before))
  reqs=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$res")
  cpu_us=$(awk -v t="$ticks" -v hz="$hz" -v r="$reqs" 'BEGIN { printf "%.2f", t / hz * 1e6 / (r ? r : 1) }')
  echo "$1 ${res#RESULT } cpu_us_per_req=$cpu_us"
}

# phigate, one worker, access log to /dev/null (it is still formatted and written).
pport=$(free_port)
APP_ENV=development PHIGATE_LISTEN=127.0.0.1:$pport LOG_FILE=/dev/null \
  $pin_server "$root/$build/phigate" --workers 1 2>"$tmp/phigate.err" &
ppid=$!
wait_port "$pport"

# nginx, one worker, same headers, access log to /dev/null too.
nport=$(free_port)
start_nginx "$tmp" "$nport" 200 '{"status":"ok"}' "$pin_server"
nworker=$nginx_worker

echo "wrk -t1 -c$conns -d${duration}s, $rounds alternating rounds (server on CPU 0, wrk on CPU 1)"
for i in $(seq "$rounds"); do
  run_wrk phigate "$ppid" "$pport"
  run_wrk nginx "$nworker" "$nport"
done
