#!/usr/bin/env bash
# `make run`: phigate in development on 127.0.0.1:8080 (one worker, the
# in-process store), delivering to phigate-mock-provider on loopback as if it
# were CDAC Mobile Seva, so an accepted SMS goes queued -> sent -> delivered
# with nothing else installed. The mock gets the mock account's credentials
# (docs/MOCK_PROVIDER.md); a provider you configure yourself (SMS_PROVIDER in
# the environment or .env) is left alone and no mock is started.
set -euo pipefail
build=${1:-build}
if [ -n "${SMS_PROVIDER:-}" ] || grep -qs '^[[:space:]]*\(export[[:space:]]\+\)\?SMS_PROVIDER=' .env; then
  exec env APP_ENV="${APP_ENV:-development}" "./$build/phigate"
fi
port=${MOCK_PORT:-9090}
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fi
"./$build/phigate-mock-provider" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
mock=$!
trap 'kill "$mock" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
echo "make run: phigate-mock-provider on 127.0.0.1:$port stands in for CDAC Mobile Seva" >&2
mock_url="http://127.0.0.1:$port"
APP_ENV="${APP_ENV:-development}" SMS_PROVIDER=cdac \
  CDAC_URL="$mock_url/esms/sendsmsrequestDLT" CDAC_REPORT_URL="$mock_url/XMLForReportG/reportXMLNew" \
  CDAC_USERNAME=mock-user CDAC_PASSWORD=mock-pass CDAC_SECURE_KEY=mock-key CDAC_SENDER_ID=MOCKID \
  PHIGATE_REPORT_DELAY_MS="${PHIGATE_REPORT_DELAY_MS:-1000}" \
  "./$build/phigate" &
gw=$!
trap 'kill "$gw" "$mock" 2>/dev/null || true' INT TERM
wait "$gw" || rc=$?
kill "$mock" 2>/dev/null || true
exit "${rc:-0}"
