"""What a pool worker says to its pool (forkctl(1), POOLS): sd_notify(3)'s words, one datagram
each, on the descriptor named in FORKCTL_NOTIFY_FD, else to NOTIFY_SOCKET. Usable from any
Python worker, whether it runs a program or a function of a Python host."""

import os
import socket


def notify(text):
    """Sends `text` ("BUSY=1", or lines such as "READY=1\\nSTATUS=warming up") as one datagram.
    Returns False when there is nowhere to send it (not a pool worker), as sd_notify returns 0."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    fd = os.environ.get("FORKCTL_NOTIFY_FD", "")
    if fd.isdigit():
        # The notify socket is one end of a datagram socket pair: one write is one message.
        os.write(int(fd), data)
        return True
    address = os.environ.get("NOTIFY_SOCKET", "")
    if address:
        if address.startswith("@"):
            address = "\0" + address[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto(data, address)
        return True
    return False


def ready():
    """Started, and waiting for work."""
    return notify("READY=1")


def busy():
    """A request begins (each counts toward the pool's --max-requests)."""
    return notify("BUSY=1")


def idle():
    """The request is done."""
    return notify("IDLE=1")


def watchdog():
    """Still working on a long request (for the pool's --timeout)."""
    return notify("WATCHDOG=1")
