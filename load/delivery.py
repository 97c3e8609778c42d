#!/usr/bin/env python3
"""Client side of load/run-delivery.sh (loopback only; prints no token and no
phone number).

  fill PORT N [CONNS]          N bulk messages (POST /v1/sms/bulk, 200 each) with
                               the token in $DELIVERY_BULK_TOKEN; prints
                               "FILL accepted=A refused=R seconds=S"
  otp PORT RATE SECONDS OUT    OTPs (POST /v1/sms, type otp) at RATE/s with the token
                               in $DELIVERY_OTP_TOKEN; writes "<id> <unix ms of the 202>"
                               lines to OUT; prints "OTP sent=S refused=R refused_by_status=CODE:N,..."
  watch MOCK_PORT TARGET SECS  polls the mock's GET /_mock/received every 50 ms until
                               its count reaches TARGET (or SECS pass); prints
                               "WATCH count=C first_ms=F last_ms=L p10_ms=A p90_ms=B"
                               (unix ms at which the count first passed 0, reached
                               TARGET, 10% and 90% of it)
  latency SENT RECORD          joins the otp file with the mock's --record file
                               (time_ms per id); prints "LAT n=N missing=M p50_ms=
                               p99_ms= max_ms="
"""
import http.client
import json
import os
import secrets
import sys
import threading
import time

BULK = 200


def now_ms():
    return int(time.time() * 1000)


def headers(token):
    return {
        "Authorization": "Bearer " + token,
        "Content-Type": "application/json",
        "X-Timestamp": str(int(time.time())),
        "X-Nonce": "ld-" + secrets.token_hex(16),
    }


def fill(port, n, conns=4):
    token = os.environ["DELIVERY_BULK_TOKEN"]
    requests = (n + BULK - 1) // BULK
    lock = threading.Lock()
    state = {"next": 0, "accepted": 0, "refused": 0}

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = state["next"]
                if i >= requests:
                    break
                state["next"] += 1
            k = min(BULK, n - i * BULK)
            # Made-up Indian mobile numbers (never printed).
            to = ["+9198%08d" % ((i * BULK + j) % 100000000) for j in range(k)]
            body = json.dumps({"to": to, "message": "Your appointment is confirmed for tomorrow."})
            try:
                c.request("POST", "/v1/sms/bulk", body, headers(token))
                r = c.getresponse()
                r.read()
                ok = r.status == 202
            except (OSError, http.client.HTTPException):
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            with lock:
                state["accepted" if ok else "refused"] += k
        c.close()

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("FILL accepted=%d refused=%d seconds=%.2f" % (state["accepted"], state["refused"], time.time() - t0))


def otp(port, rate, seconds, out):
    token = os.environ["DELIVERY_OTP_TOKEN"]
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"to": "+919800000002", "message": "Your OTP is 000000. It expires in 5 minutes.",
                       "type": "otp"})
    sent = refused = 0
    codes = {}
    interval = 1.0 / rate
    start = time.time()
    with open(out, "w") as f:
        k = 0
        while time.time() - start < seconds:
            due = start + k * interval
            d = due - time.time()
            if d > 0:
                time.sleep(d)
            k += 1
            try:
                c.request("POST", "/v1/sms", body, headers(token))
                r = c.getresponse()
                data = r.read()
                at = now_ms()
            except (OSError, http.client.HTTPException):
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                refused += 1
                continue
            if r.status != 202:
                refused += 1
                codes[r.status] = codes.get(r.status, 0) + 1
                continue
            f.write("%s %d\n" % (json.loads(data)["id"], at))
            sent += 1
    print("OTP sent=%d refused=%d refused_by_status=%s" % (
        sent, refused, ",".join("%d:%d" % kv for kv in sorted(codes.items())) or "-"))


def watch(port, target, secs):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    first = last = p10 = p90 = 0
    count = 0
    deadline = time.time() + secs
    while time.time() < deadline:
        c.request("GET", "/_mock/received")
        r = c.getresponse()
        count = json.loads(r.read())["count"]
        t = now_ms()
        if count > 0 and not first:
            first = t
        if count >= target * 0.1 and not p10:
            p10 = t
        if count >= target * 0.9 and not p90:
            p90 = t
        if count >= target:
            last = t
            break
        time.sleep(0.05)
    print("WATCH count=%d first_ms=%d last_ms=%d p10_ms=%d p90_ms=%d" % (count, first, last, p10, p90))


def latency(sent_file, record_file):
    sent = {}
    with open(sent_file) as f:
        for line in f:
            i, at = line.split()
            sent[i] = int(at)
    seen = {}
    with open(record_file) as f:
        for line in f:
            e = json.loads(line)
            if e["id"] in sent and e["id"] not in seen:
                seen[e["id"]] = e["time_ms"]
    lat = sorted(seen[i] - sent[i] for i in seen)
    if not lat:
        print("LAT n=0 missing=%d p50_ms=0 p99_ms=0 max_ms=0" % len(sent))
        return

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))]

    print("LAT n=%d missing=%d p50_ms=%d p99_ms=%d max_ms=%d" % (len(lat), len(sent) - len(lat), pct(50), pct(99),
                                                                 lat[-1]))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fill":
        fill(int(args[0]), int(args[1]), int(args[2]) if len(args) > 2 else 4)
    elif cmd == "otp":
        otp(int(args[0]), float(args[1]), float(args[2]), args[3])
    elif cmd == "watch":
        watch(int(args[0]), int(args[1]), float(args[2]))
    elif cmd == "latency":
        latency(args[0], args[1])
    else:
        sys.exit("unknown command")
