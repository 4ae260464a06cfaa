#!/usr/bin/env python3
"""Bounded load for PoolTests: CLIENTS threads, each making one connection per request to
127.0.0.1:PORT for SECONDS, sending "GET / HTTP/1.0" and reading the answer to its end.

usage: load.py PORT SECONDS CLIENTS

Every answer must be "HTTP/1.0 200 OK" with the body "pid PID\\n" (http-worker.py). Prints
one line "requests=N ok=N bad=N refused=N pids=PID,PID..." (the pids that answered, in the
order first seen) on stdout and the first few failures on stderr; exits 0 only when every
request was answered. A connection refused or reset counts as bad, and refused apart.
Python 3 standard library only.
"""
import re
import socket
import sys
import threading
import time


def main():
    port, seconds, clients = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    lock = threading.Lock()
    counts = {"requests": 0, "ok": 0, "bad": 0, "refused": 0}
    pids = []
    failures = []
    deadline = time.monotonic() + seconds

    def record(pid, failure=None, refused=False):
        with lock:
            counts["requests"] += 1
            counts["ok" if failure is None else "bad"] += 1
            counts["refused"] += refused
            if pid is not None and pid not in pids:
                pids.append(pid)
            if failure is not None and len(failures) < 5:
                failures.append(failure)

    def client():
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                    s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    answer = b""
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        answer += chunk
            except ConnectionRefusedError as e:
                record(None, "connect: %s" % e, refused=True)
                continue
            except OSError as e:
                record(None, "%s: %s" % (type(e).__name__, e))
                continue
            m = re.fullmatch(rb"HTTP/1\.0 200 OK\r\nContent-Length: \d+\r\n\r\npid (\d+)\n", answer)
            if m:
                record(int(m.group(1)))
            else:
                record(None, "answer %r" % answer)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("requests=%d ok=%d bad=%d refused=%d pids=%s" % (
        counts["requests"], counts["ok"], counts["bad"], counts["refused"], ",".join(map(str, pids))))
    for f in failures:
        print(f, file=sys.stderr)
    return 0 if counts["bad"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
