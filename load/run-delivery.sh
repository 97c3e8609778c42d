#!/usr/bin/env bash
# Load test of delivery: phigate consuming the Redis outbox and calling a
# provider, with a real redis-server and build/phigate-mock-provider speaking
# the generic JSON protocol (SMS_PROVIDER=http, SMS_HTTP_URL to its
# /v1/messages), all on 127.0.0.1.
#
# Throughput (per mock latency in LATENCIES, per worker count in WORKERS):
#   1. fill: an accept-only phigate (PHIGATE_DELIVERY=false, same Redis) takes
#      N messages as bulk requests of 200 (POST /v1/sms/bulk, load/delivery.py
#      fill): the outbox is full before delivery starts, so the delivering
#      side is measured alone and its own admits do not share the 2 cores;
#   2. drain: a delivering phigate starts; the mock's GET /_mock/received count
#      is polled every 50 ms until it reaches N; then the outbox is left empty
#      (every finish recorded) before the counters are read.
#   Prints delivered/s (whole drain, and 10%..90% of it), then per delivered
#   message: Redis round trips (top-level commands), commands run inside the
#   scripts, Redis CPU (INFO cpu, user+sys) and script time (commandstats),
#   phigate's and the mock's CPU (/proc ticks); the fill's Redis cost per
#   admitted message apart, and the sum: Redis from admission to final status.
# Lanes: the accept-only phigate queues LANES_N (100,000) bulk messages for
#   key "bulk"; the delivering one starts, and OTPs (POST /v1/sms, type otp) for
#   key "otp" go to it at OTP_RATE/s for OTP_SECONDS while the bulk backlog
#   drains; acceptance (the 202, client side) -> arrival at the mock (its
#   --record time_ms) p50/p99 for the OTPs, with the backlog still left.
#
# Usage: load/run-delivery.sh [BUILD_DIR]
#   env: N=50000 LATENCIES="0 200" WORKERS="1 2" CONCURRENCY=2000 (per worker)
#        LANES=1 LANES_N=100000 LANES_LATENCY=200 OTP_RATE=100 OTP_SECONDS=8
#        PHASE_TIMEOUT=120 (seconds: each fill, drain, OTP run is bounded)
#        CALLBACKS=1 (key "bulk" calls back every status change; see below)
# Tokens and phone numbers are never printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$root/$build ;; esac  # relative to the repository, or absolute
n=${N:-50000}
conc=${CONCURRENCY:-2000}
phase_timeout=${PHASE_TIMEOUT:-120}
tmp=$(mktemp -d)
cleanup() {
  local p
  for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
hz=$(getconf CLK_TCK)
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
client() { timeout "$phase_timeout" python3 "$root/load/delivery.py" "$@"; }
field() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<<" $2"; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  --logfile "$tmp/redis.log" &
rpid=$!
wait_port "$rport"
rcli() { redis-cli -p "$rport" "$@"; }
redis_cpu() { rcli INFO cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}'; }
# INFO commandstats: "name calls usec" lines. Round trips are the top-level
# commands (EVALSHA and the plain ones phigate sends); what a script runs
# (TIME, XPENDING, GET, SET, XACK, XDEL, ...) is counted under its own name.
# CONFIG, INFO and SCRIPT are the harness's and start-up's.
stats() { rcli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),usec=\([0-9]*\).*/\1 \2 \3/p'; }

bt="phg_live_$(hex 24)"
ot="phg_live_$(hex 24)"
# CALLBACKS=1: key "bulk" has a status callback URL (a receiver on loopback
# answering 204, allowed by CALLBACK_ALLOWED_CIDRS): the drain then also
# waits until every callback was delivered, so their Redis cost is counted.
cb_fields=""
if [ "${CALLBACKS:-0}" = 1 ]; then
  cbport=$(free_port)
  python3 -c '
import sys, http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$cbport" &
  wait_port "$cbport"
  cb_fields=",\"status_callback_url\":\"http://127.0.0.1:$cbport/cb\",\"callback_secret\":\"$(hex 32)\""
fi
printf '{"keys":[{"id":"bulk","token_sha256":"%s","roles":["bulk"]%s},{"id":"otp","token_sha256":"%s","roles":["sms"]}]}' \
  "$(printf %s "$bt" | sha256sum | cut -d' ' -f1)" "$cb_fields" "$(printf %s "$ot" | sha256sum | cut -d' ' -f1)" >"$tmp/keys.json"
export DELIVERY_BULK_TOKEN=$bt DELIVERY_OTP_TOKEN=$ot
# Every process sharing the Redis needs the same keys (pseudonyms, sealing).
secret=$(hex 32)
enc=$(hex 32)

mport=0 mpid=0
start_mock() {  # latency_ms [record file]
  mport=$(free_port)
  local rec=()
  [ -n "${2:-}" ] && rec=(--record "$2")
  "$build/phigate-mock-provider" --listen "127.0.0.1:$mport" --latency-ms "$1" "${rec[@]}" \
    >/dev/null 2>"$tmp/mock.err" &
  mpid=$!
  wait_port "$mport" || { echo "mock did not start:"; cat "$tmp/mock.err"; exit 1; }
}
stop() {  # pid
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

gport=0 gpid=0 gpids=""
start_phigate() {  # workers delivery(true|false)
  gport=$(free_port)
  env APP_ENV=development PHIGATE_LISTEN="127.0.0.1:$gport" LOG_FILE=/dev/null \
    API_KEYS_FILE="$tmp/keys.json" RATELIMIT_STORAGE_URI="redis://127.0.0.1:$rport/0" \
    SECRET_KEY="$secret" ENCRYPTION_KEY="$enc" \
    PHIGATE_RATE_LIMITS=sms=100000/1,bulk=100000/1,messages=100000/1 \
    SMS_PROVIDER=http SMS_HTTP_URL="http://127.0.0.1:$mport/v1/messages" SMS_HTTP_TOKEN=mock-token \
    PHIGATE_PROVIDER_CONCURRENCY="$conc" PHIGATE_DELIVERY="$2" PHIGATE_DRAIN_TIMEOUT_MS=2000 \
    CALLBACK_ALLOWED_CIDRS=127.0.0.1/32 PHIGATE_CALLBACK_CONCURRENCY="${CALLBACK_CONCURRENCY:-64}" \
    "$build/phigate" --workers "$1" 2>"$tmp/phigate-$2.err" &
  gpid=$!
  wait_port "$gport" || { echo "phigate did not start:"; cat "$tmp/phigate-$2.err"; exit 1; }
  sleep 0.2
  gpids=$(pgrep -P "$gpid" || true)
  [ -n "$gpids" ] || gpids=$gpid
}

# The accept-only instance: fill, let its watermark pass its last admit (it
# writes one every 20 ms for 1 s after admitting), stop. Sets fill_* figures.
fill() {  # count
  start_phigate 1 false
  local apid=$gpid aport=$gport
  rcli CONFIG RESETSTAT >/dev/null
  local c0 c1
  c0=$(redis_cpu)
  fill_res=$(client fill "$aport" "$1")
  c1=$(redis_cpu)
  fill_stats=$(stats)
  fill_cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.6f", b - a}')
  fill_accepted=$(field accepted "$fill_res")
  sleep 1.2
  stop "$apid"
}

# Outbox empty (every entry acknowledged and deleted by a finish), bounded.
wait_outbox_empty() {
  local s
  for _ in $(seq $((phase_timeout * 10))); do
    s=0
    for k in bulk otp; do
      s=$((s + $(rcli XLEN "phigate:{$k}:outbox") + $(rcli XLEN "phigate:{$k}:outbox:bulk")))
      s=$((s + $(rcli XLEN "phigate:{$k}:callbacks") + $(rcli ZCARD "phigate:{$k}:callbacks:r")))
    done
    [ "$s" = 0 ] && return 0
    sleep 0.1
  done
  echo "warning: outbox not empty after ${phase_timeout}s ($s entries)" >&2
}

# Per-message figures from one `stats` snapshot (stats are reset before
# each phase).
summarise() {  # stats-text messages
  awk -v m="$2" '
    BEGIN { split("evalsha xreadgroup hgetall hset xautoclaim xgroup|create", t, " "); for (i in t) top[t[i]] = 1 }
    $1 !~ /^(config|info|script)/ {
      if ($1 in top) rt += $2; else inscript += $2
      if ($2 / m >= 0.01) line = line sprintf(" %s=%.2f", $1, $2 / m)
      if ($1 == "evalsha") su = $3
    }
    END {
      printf "round_trips_per_msg=%.4f in_script_cmds_per_msg=%.2f script_us_per_msg=%.2f cmds_per_msg:%s\n",
        rt / m, inscript / m, su / m, line
    }' <<<"$1"
}

results="$tmp/results"
: >"$results"
for lat in ${LATENCIES:-0 200}; do
  for workers in ${WORKERS:-1 2}; do
    rcli FLUSHALL >/dev/null
    mem0=$(rcli INFO memory | awk -F: '/^used_memory:/ {print $2+0}')
    start_mock "$lat"
    fill "$n"
    mem1=$(rcli INFO memory | awk -F: '/^used_memory:/ {print $2+0}')
    rcli CONFIG RESETSTAT >/dev/null
    r0=$(redis_cpu)
    m0=$(ticks "$mpid")
    start_phigate "$workers" true
    dpid=$gpid dpids=$gpids
    w=$(client watch "$mport" "$fill_accepted" "$phase_timeout")
    wait_outbox_empty
    mem2=$(rcli INFO memory | awk -F: '/^used_memory:/ {print $2+0}')
    r1=$(redis_cpu)
    p1=$(ticks $dpids)
    m1=$(ticks "$mpid")
    dstats=$(stats)
    stop "$dpid"
    stop "$mpid"
    got=$(field count "$w")
    first=$(field first_ms "$w") last=$(field last_ms "$w") a=$(field p10_ms "$w") b=$(field p90_ms "$w")
    line=$(awk -v n="$got" -v f="$first" -v l="$last" -v a="$a" -v b="$b" -v rc=$(awk -v x="$r0" -v y="$r1" 'BEGIN{print y-x}') \
        -v pt="$p1" -v mt=$((m1 - m0)) -v hz="$hz" -v fc="$fill_cpu" -v fa="$fill_accepted" 'BEGIN {
      rate = (l > f) ? n / ((l - f) / 1000) : 0
      sus = (b > a) ? 0.8 * n / ((b - a) / 1000) : 0
      d = rc * 1e6 / (n ? n : 1); ad = fc * 1e6 / (fa ? fa : 1)
      printf "delivered=%d delivered_per_s=%.0f sustained_per_s=%.0f redis_cpu_us_per_msg=%.2f phigate_cpu_us_per_msg=%.2f mock_cpu_us_per_msg=%.2f admit_redis_cpu_us_per_msg=%.2f admit_to_final_redis_cpu_us_per_msg=%.2f",
        n, rate, sus, d, pt / hz * 1e6 / (n ? n : 1), mt / hz * 1e6 / (n ? n : 1), ad, d + ad }')
    echo "delivery workers=$workers latency_ms=$lat concurrency=$conc $line $(summarise "$dstats" "${got:-1}")" | tee -a "$results"
    echo "  admit (bulk fill, accept-only phigate): ${fill_res#FILL } $(summarise "$fill_stats" "${fill_accepted:-1}")"
    # Memory: what is left once everything is delivered is the status records
    # (no payload, no stream entry), kept for MESSAGE_RETENTION_S.
    awk -v a="$mem0" -v b="$mem1" -v c="$mem2" -v n="${got:-1}" 'BEGIN {
      printf "  redis used_memory: empty %.1f MiB, %d queued %.1f MiB, all delivered %.1f MiB (%.0f bytes left per message: its status record)\n",
        a / 1048576, n, b / 1048576, c / 1048576, (c - a) / n }'
    [ "$got" = "$fill_accepted" ] || echo "  warning: the mock received $got of $fill_accepted" >&2
  done
done

# Same-run ratios: 2 workers / 1 worker, 200 ms / 0 ms, delivery / admit Redis CPU.
awk '{
  for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  k = v["workers"] "/" v["latency_ms"]; rate[k] = v["delivered_per_s"]; red[k] = v["redis_cpu_us_per_msg"]
  adm[k] = v["admit_redis_cpu_us_per_msg"]; ws[v["workers"]] = 1; ls[v["latency_ms"]] = 1
} END {
  for (l in ls) if (rate["1/" l] && rate["2/" l]) printf "ratio latency_ms=%s delivered_per_s workers2/workers1=%.2f\n", l, rate["2/" l] / rate["1/" l]
  for (w in ws) if (rate[w "/0"] && rate[w "/200"]) printf "ratio workers=%s delivered_per_s 200ms/0ms=%.2f\n", w, rate[w "/200"] / rate[w "/0"]
  for (k in red) if (adm[k]) printf "ratio %s (workers/latency) redis_cpu delivery/admit=%.2f\n", k, red[k] / adm[k]
}' "$results"

# Lanes: OTPs of one key while another key's bulk backlog drains.
if [ "${LANES:-1}" = 1 ]; then
  lanes_n=${LANES_N:-100000}
  rcli FLUSHALL >/dev/null
  start_mock "${LANES_LATENCY:-200}" "$tmp/record.jsonl"
  fill "$lanes_n"
  start_phigate 1 true
  dpid=$gpid
  otp=$(client otp "$gport" "${OTP_RATE:-100}" "${OTP_SECONDS:-8}" "$tmp/otp.txt")
  left=$(( fill_accepted - $(curl -s "http://127.0.0.1:$mport/_mock/received" | sed 's/.*"count":\([0-9]*\).*/\1/') + $(field sent "$otp") ))
  sleep 2  # the last OTPs reach the mock (past the latency: the record is written on arrival)
  lat=$(client latency "$tmp/otp.txt" "$tmp/record.jsonl")
  stop "$dpid"
  stop "$mpid"
  echo "lanes latency_ms=${LANES_LATENCY:-200} bulk_queued=$fill_accepted otp_rate=${OTP_RATE:-100} ${otp#OTP } ${lat#LAT } bulk_left_when_otps_ended=$left"
fi
