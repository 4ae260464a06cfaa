"""Functions the host tests call in workers of a Python host template."""

import os
import sys
import time

loaded_in = os.getpid()
init_args = None


def init(*args):
    global init_args
    init_args = args


def echo(*args):
    """Writes its arguments, one per line, and the init's, to stdout; exits 0."""
    sys.stdout.write("\n".join(args) + "\n")
    sys.stdout.write("init=%s\n" % (init_args,))
    return None


def status(n):
    return int(n)


def fail(text):
    raise RuntimeError(text)


def leave(n):
    raise SystemExit(int(n))


def forked():
    """Exits 0 when it runs in another process than the template that imported this module."""
    return 0 if os.getpid() != loaded_in else 9


def import_then_sleep(name, seconds):
    __import__(name)
    time.sleep(float(seconds))


class Greeter:
    @staticmethod
    def hello(who):
        print("hello, %s" % who)
