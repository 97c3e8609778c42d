#!/usr/bin/env bash
# Load test of the full pipeline for an accepted POST /v1/sms against phigate
# + a real Redis (one EVALSHA per request), with --workers 1 and --workers 2.
# Prints requests/s, p50/p99, non-2xx, Redis commands per request (from INFO
# commandstats), and CPU µs per request of phigate and of Redis.
# Usage: load/run-sms.sh [BUILD_DIR]   env: DURATION=10 CONNS=64 WORKERS="1 2"
#        SMS_RATE_LIMIT=sms=100000/1 (a limit the load never reaches)
#        NGINX=0 skips the nginx yardstick (a fixed 202, same headers, same wrk script)
#        PIN=1: the set-up of docs/PERFORMANCE.md's targets, phigate on CPU 0, Redis and wrk on
#        CPU 1 (with --workers 1; more workers are left unpinned)
# Admission only: phigate runs with PHIGATE_DELIVERY=false, so no worker
# consumes the outbox and the Redis figures are the admit path's alone
# (delivery is on by default; load/run-delivery.sh measures it).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
duration=${DURATION:-10}
conns=${CONNS:-64}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
hz=$(getconf CLK_TCK)

rport=$(free_port)
pin_server="" pin_other=""
if [ "${PIN:-0}" = 1 ] && [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_other="taskset -c 1"; fi
$pin_other redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  --logfile "$tmp/redis.log" &
rpid=$!
wait_port "$rport"
rcli() { redis-cli -p "$rport" "$@"; }

token="phg_live_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
printf '{"keys":[{"id":"load","token_sha256":"%s","roles":["sms"]}]}' "$hash" >"$tmp/keys.json"
export SMS_LOAD_TOKEN=$token

for workers in ${WORKERS:-1 2}; do
  pport=$(free_port)
  APP_ENV=development PHIGATE_LISTEN=127.0.0.1:$pport LOG_FILE=/dev/null \
    API_KEYS_FILE="$tmp/keys.json" RATELIMIT_STORAGE_URI="redis://127.0.0.1:$rport/0" \
    PHIGATE_RATE_LIMITS="${SMS_RATE_LIMIT:-sms=100000/1}" PHIGATE_DELIVERY=false \
    $([ "$workers" = 1 ] && echo "$pin_server") "$root/$build/phigate" --workers "$workers" 2>"$tmp/phigate.err" &
  ppid=$!
  wait_port "$pport" || { echo "phigate did not start:"; cat "$tmp/phigate.err"; exit 1; }
  sleep 0.5  # workers connect to Redis and load the script
  pids=$(pgrep -P "$ppid" || true)
  [ -n "$pids" ] || pids=$ppid
  rcli CONFIG RESETSTAT >/dev/null
  before_p=$(ticks $pids)
  before_r=$(ticks "$rpid")
  res=$($pin_other wrk -t1 -c"$conns" -d"${duration}s" -s "$root/load/sms.lua" "http://127.0.0.1:$pport/v1/sms" | grep '^RESULT')
  after_p=$(ticks $pids)
  after_r=$(ticks "$rpid")
  reqs=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$res")
  # Round trips are the top-level commands: EVALSHA (one per request, plus
  # each worker's block-list refresh every 500 ms). INFO commandstats also
  # counts the commands a script runs inside Redis; they are reported apart.
  calls=$(rcli INFO commandstats | awk -F'[=,:]' '/^cmdstat_/ && !/evalsha|script|info|config/ {s += $3} END {print s + 0}')
  evals=$(rcli INFO commandstats | awk -F'[=,:]' '/^cmdstat_evalsha/ {print $3}')
  # Time Redis spends running the script itself (the rest of its CPU is
  # reading, parsing and answering the protocol, and the event loop).
  script_us=$(rcli INFO commandstats | awk -F'[=,:]' '/^cmdstat_evalsha/ {print $7}')
  awk -v w="$workers" -v res="${res#RESULT }" -v r="$reqs" -v c="$calls" -v e="${evals:-0}" \
      -v su="${script_us:-0}" -v pt=$((after_p - before_p)) -v rt=$((after_r - before_r)) -v hz="$hz" 'BEGIN {
    printf "workers=%s %s redis_round_trips_per_req=%.3f in_script_cmds_per_req=%.1f phigate_cpu_us_per_req=%.2f redis_cpu_us_per_req=%.2f redis_script_us_per_call=%.2f\n",
      w, res, e / (r ? r : 1), c / (r ? r : 1), pt / hz * 1e6 / (r ? r : 1), rt / hz * 1e6 / (r ? r : 1), su }'
  kill -TERM "$ppid"
  wait "$ppid" 2>/dev/null || true
done

# The yardstick (docs/PERFORMANCE.md, the targets): nginx answering the same requests with
# a fixed 202 and the same headers, doing nothing else, placed as phigate was.
if [ "${NGINX:-1}" = 1 ]; then
  . "$root/load/nginx-baseline.sh"
  nport=$(free_port)
  start_nginx "$tmp" "$nport" 202 \
    '{"id":"0123456789abcdef0123456789abcdef","status":"queued","segments":1}' "$pin_server"
  before=$(ticks "$nginx_worker")
  res=$($pin_other wrk -t1 -c"$conns" -d"${duration}s" -s "$root/load/sms.lua" "http://127.0.0.1:$nport/v1/sms" | grep '^RESULT')
  after=$(ticks "$nginx_worker")
  reqs=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$res")
  awk -v res="${res#RESULT }" -v r="$reqs" -v t=$((after - before)) -v hz="$hz" 'BEGIN {
    printf "nginx_fixed_202 %s nginx_cpu_us_per_req=%.2f\n", res, t / hz * 1e6 / (r ? r : 1) }'
fi
