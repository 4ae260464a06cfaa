#!/usr/bin/env python3
"""A prefork HTTP worker for PoolTests: it accepts on the listening socket at descriptor 3
(sent to the pool's template with `forkctl send-fd T 3=3`, so shared by every worker),
reads one request, waits HOLD seconds, answers "200 OK" with the body "pid PID\\n" and
closes; BUSY=1 once it holds a connection, IDLE=1 once it has answered, on its notify
descriptor (FORKCTL_NOTIFY_FD).

usage: http-worker.py DIR HOLD

SIGTERM is handled as gunicorn's workers do: a connection it holds is answered first, so
that the pool's own actions never drop an accepted connection. It ends by itself when DIR
is removed, so that a failed test leaves no worker behind. Python 3 standard library only.
"""
import os
import select
import signal
import socket
import sys
import time

directory, hold = sys.argv[1], float(sys.argv[2])
notify_fd = int(os.environ["FORKCTL_NOTIFY_FD"])
stopping = False


def notify(text):
    # One write on the datagram socket: one message.
    os.write(notify_fd, text.encode())


def on_term(signum, frame):
    # Only a flag: the loop looks at it when it holds no connection.
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_term)
listener = socket.socket(fileno=3)
# Every worker waits on the same socket: whoever loses the race for a connection gets
# EAGAIN rather than blocking in accept while it should be looking at `stopping`.
listener.setblocking(False)
notify("READY=1")
while not stopping and os.path.isdir(directory):
    if not select.select([listener], [], [], 0.1)[0]:
        continue
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        continue
    notify("BUSY=1")
    with conn:
        conn.setblocking(True)
        conn.settimeout(10)
        request = b""
        try:
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            time.sleep(hold)
            body = b"pid %d\n" % os.getpid()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
    notify("IDLE=1")
