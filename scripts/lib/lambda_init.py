#!/usr/bin/env python3
"""Measures a Lambda function binary's init time: from process start to its first request for
an event on the Lambda runtime API (what Lambda reports as Init Duration). Serves a minimal
runtime API on loopback that never hands out an event, starts the binary RUNS times with the
environment on stdin (KEY=VALUE lines), and prints the median in milliseconds.

    lambda_init.py BINARY RUNS < env
"""
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

binary, runs = sys.argv[1], int(sys.argv[2])
env = dict(os.environ)
for line in sys.stdin.read().splitlines():
    if "=" in line:
        k, v = line.split("=", 1)
        env[k] = v
first_next = threading.Event()


class Runtime(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            first_next.set()
            time.sleep(30)  # no event: the function waits here until it is killed
        self.send_response(404)
        self.end_headers()

    def do_POST(self):  # init errors
        sys.stderr.write("init error reported: " + self.rfile.read(int(self.headers.get("Content-Length", 0))).decode() + "\n")
        self.send_response(202)
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
times = []
for _ in range(runs):
    first_next.clear()
    t0 = time.perf_counter()
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not first_next.wait(20):
        p.kill()
        sys.exit(f"{binary} did not ask for an event within 20 s: {p.stderr.read().decode()[-2000:]}")
    times.append((time.perf_counter() - t0) * 1000)
    p.kill()
    p.wait()
print(f"{statistics.median(times):.1f}")
