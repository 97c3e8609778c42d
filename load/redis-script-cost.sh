#!/usr/bin/env bash
# Where Redis's time per admit goes: runs the real admit script (from
# src/state/redis_scripts.h) with redis-benchmark against a private
# redis-server, next to an empty script and one that only calls TIME, and
# prints each one's usec_per_call (INFO commandstats) plus the time of every
# command the admit script runs inside Redis.
# Usage: load/redis-script-cost.sh   env: N=200000
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-200000}
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.05; done
python3 - "$root/src/state/redis_scripts.h" >"$tmp/admit.lua" <<'PY'
import re, sys
print(re.search(r'kAdmitScript = R"lua\((.*?)\)lua"', open(sys.argv[1]).read(), re.S).group(1))
PY
payload=$(head -c 150 /dev/urandom | base64 -w0)  # about a sealed SMS
run() {  # $1: label, $2: script. Keys and args as phigate sends them for one SMS
  # (the nonce key ends in a 32-character pseudonym, as phigate names it).
  redis-cli -p "$port" CONFIG RESETSTAT >/dev/null
  local sha
  sha=$(redis-cli -p "$port" SCRIPT LOAD "$2")
  redis-benchmark -p "$port" -n "$n" -P 16 -c 4 -r 1000000000 -q EVALSHA "$sha" 7 \
    'phigate:{k}:w:sms:k' 'phigate:{k}:d:sms:1' 'phigate:{k}:n:00000000000000000000__rand_int__' 'phigate:{k}:i:-' \
    'phigate:{k}:outbox' 'phigate:{k}:m:-' 'phigate:{k}:m:__rand_int__' \
    100000000 60000 0 __rand_int__ 600000 0 '' '' 0 0 86400000 1 99999999999999 \
    __rand_int__ sms "$payload" 1 >/dev/null 2>&1
  redis-cli -p "$port" INFO commandstats | awk -F'[=,:]' -v l="$1" \
    '/^cmdstat_evalsha/ {printf "%-34s %6.2f us per EVALSHA\n", l, $7}'
}
run "empty script" "return {0,0,0,0,0}"
run "one TIME call" "redis.call('TIME') return {0,0,0,0,0}"
run "five TIME calls" "for i = 1, 5 do redis.call('TIME') end return {0,0,0,0,0}"
run "admit (one SMS, nonce, window)" "$(cat "$tmp/admit.lua")"
echo "commands inside the admit script (us each):"
redis-cli -p "$port" INFO commandstats | awk -F'[=,:]' \
  '/^cmdstat_/ && !/evalsha|script|info|config/ {sub("cmdstat_", "", $1); printf "  %-18s %5.2f x %.2f per admit\n", $1, $7, $3 / '"$n"'}'
