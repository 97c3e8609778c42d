#!/usr/bin/env python3
"""Resident memory per idle keep-alive connection of one phigate worker.

Starts build/phigate (one worker), opens 200 connections to warm up, then 4000
more, each after one answered GET /livez, and prints the growth of the worker's
VmRSS divided by 4000. Usage: load/idle_memory.py [BUILD_DIR]
"""
import os
import resource
import socket
import subprocess
import sys
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
env = {"PATH": os.environ.get("PATH", ""), "APP_ENV": "development",
       "PHIGATE_LISTEN": f"127.0.0.1:{port}", "LOG_FILE": "/dev/null",
       "PHIGATE_MAX_CONNECTIONS_PER_IP": "100000"}
server = subprocess.Popen([os.path.join(root, build, "phigate"), "--workers", "1"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.05)

    def rss_kib():
        with open(f"/proc/{server.pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))

    conns = []

    def open_idle(n):
        batch = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /livez HTTP/1.1\r\nHost: a\r\n\r\n")
            batch.append(s)
        for s in batch:
            s.recv(4096)
        conns.extend(batch)

    open_idle(200)
    time.sleep(0.3)
    before = rss_kib()
    open_idle(4000)
    time.sleep(0.5)
    print(f"idle keep-alive connections: 4000, VmRSS growth {rss_kib() - before} KiB, "
          f"{(rss_kib() - before) / 4000:.2f} KiB per connection")
finally:
    server.terminate()
    server.wait()
