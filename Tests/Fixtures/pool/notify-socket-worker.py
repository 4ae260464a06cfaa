#!/usr/bin/env python3
"""A pool worker written for sd_notify(3), for PoolTests: it never touches
FORKCTL_NOTIFY_FD, and sends every message as sd_notify does, one datagram to the address in
NOTIFY_SOCKET ("@NAME": the abstract NAME). Driven by DIR/mode (idle or busy) as worker.sh
is; appends "notify-socket PID NOTIFY_SOCKET FORKCTL_NOTIFY_FD" to DIR/log when it starts.

usage: notify-socket-worker.py DIR

It ends by itself when DIR is removed. Python 3 standard library only.
"""
import os
import socket
import sys
import time

directory = sys.argv[1]
address = os.environ["NOTIFY_SOCKET"]
with open(os.path.join(directory, "log"), "a") as log:
    log.write("notify-socket %d %s %s\n" % (os.getpid(), address, os.environ.get("FORKCTL_NOTIFY_FD", "-")))
if address.startswith("@"):
    address = "\0" + address[1:]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)


def notify(text):
    sock.sendto(text.encode(), address)


notify("READY=1\nSTATUS=sd_notify %d" % os.getpid())
now = "idle"
while os.path.isdir(directory):
    try:
        with open(os.path.join(directory, "mode")) as f:
            want = f.read().strip()
    except OSError:
        want = "idle"
    if want in ("idle", "busy") and want != now:
        now = want
        notify(want.upper() + "=1")
    time.sleep(0.05)
