#!/usr/bin/env python3
"""Bounded load for CGITests: REQUESTS GETs of query.cgi from CLIENTS concurrent clients.

usage: load.py HOST PORT REQUESTS CLIENTS

Each client thread keeps one HTTP/1.1 connection (http.client reopens it whenever the
server closes it) and sends its share of the requests one after another. Every request
has its own query string, and query.cgi echoes it, so every answer can be checked
exactly: status 200, Content-Type text/plain and body "query=QUERY\\n". Prints one line
"requests=N ok=N bad=N clients=N seconds=S" on stdout and the first few failures on
stderr; exits 0 only when every answer was right. A request that gets no answer within
20 s stops every client, so that a hang fails in seconds rather than one timeout per
remaining request. Python 3 standard library only.
"""
import http.client
import sys
import threading
import time


def main():
    host, port, total, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    lock = threading.Lock()
    counts = {"ok": 0, "bad": 0}
    failures = []
    stop = threading.Event()

    def record(ok, detail=None):
        with lock:
            counts["ok" if ok else "bad"] += 1
            if not ok and len(failures) < 5:
                failures.append(detail)

    def client(k):
        conn = http.client.HTTPConnection(host, port, timeout=20)
        try:
            for i in range(k, total, clients):
                if stop.is_set():
                    break
                query = "n=%d&client=%d&check=%x" % (i, k, i * 2654435761 % 2**32)
                expected = ("query=%s\n" % query).encode()
                try:
                    conn.request("GET", "/query.cgi?" + query)
                    response = conn.getresponse()
                    body = response.read()
                    ok = (response.status == 200
                          and response.getheader("Content-Type") == "text/plain"
                          and body == expected)
                    record(ok, "request %d: status %d, body %r" % (i, response.status, body))
                except (OSError, http.client.HTTPException) as e:
                    if isinstance(e, TimeoutError):
                        stop.set()
                    conn.close()
                    record(False, "request %d: %s: %s" % (i, type(e).__name__, e))
        finally:
            conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    for f in failures:
        print("load.py: " + f, file=sys.stderr)
    print("requests=%d ok=%d bad=%d clients=%d seconds=%.2f"
          % (total, counts["ok"], counts["bad"], clients, seconds))
    return 0 if counts["ok"] == total and counts["bad"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
