"""Functions the Python host's tests call in workers (test_python_host.py, PythonHostTests.swift)."""

import gc
import os
import signal
import sys

import forkctl_host

LOADED_WITH = None


def init(*arguments):
    """An init for `load`: keeps its arguments, which a worker then reports."""
    global LOADED_WITH
    LOADED_WITH = list(arguments)


def init_fails(*arguments):
    raise RuntimeError("init refused %s" % (arguments,))


def write(fd, *words):
    """Writes the words to descriptor fd; returns None, the status 0."""
    os.write(int(fd), " ".join(words).encode())


def write_loaded(fd):
    os.write(int(fd), repr(LOADED_WITH).encode())


def exit_with(code):
    return int(code)


def fail(*_):
    raise ValueError("boom from the worker")


def leave(code):
    sys.exit(int(code))


def die(sig):
    os.kill(os.getpid(), int(sig))


def hold(fd, code):
    """Waits for end of file on fd, then returns code: a worker that runs until the test lets it go."""
    while os.read(int(fd), 4096):
        pass
    return int(code)


def import_late(out, hold_fd):
    """Imports a module the template never imported, says so, and stays alive to be audited."""
    import colorsys  # noqa: F401 (the import is the point)

    os.write(int(out), b"imported")
    return hold(hold_fd, 0)


def private_dirty_after_collection(fd):
    """Runs a full collection and writes this process's Private_Dirty in kB (smaps_rollup)."""
    gc.collect()
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                os.write(int(fd), line.split()[1].encode())


def report(fd):
    """What a worker can learn from forkctl_host and its environment."""
    lines = [
        "control_fd=%s" % forkctl_host.control_fd(),
        "variable=%s" % os.environ.get("FORKCTL_CONTROL_FD"),
        "worker_id=%s" % forkctl_host.worker_id(),
        "pool=%s" % forkctl_host.pool(),
        "argv=%s" % sys.argv,
        "gc=%s" % gc.isenabled(),
        "comm=%s" % open("/proc/self/comm").read().strip(),
        "pgid=%s" % (os.getpgid(0) == os.getpid()),
    ]
    forkctl_host.notify("READY=1")
    os.write(int(fd), "\n".join(lines).encode())


def attributes(fd):
    """The attributes the worker was given: umask, SIGUSR1's action, the mask, RLIMIT_NOFILE."""
    import resource

    umask = os.umask(0)
    lines = [
        "umask=%o" % umask,
        "usr1=%s" % ("ignored" if signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN else "other"),
        "blocked=%s" % sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "nofile=%d" % resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    ]
    os.write(int(fd), "\n".join(lines).encode())


class Greeter:
    @staticmethod
    def greet(fd, name):
        os.write(int(fd), ("hello " + name).encode())
        return 4


def register_exit(fd, words):
    """Registers an atexit handler that writes `words`: it runs unless the worker quick-exits."""
    import atexit

    atexit.register(os.write, int(fd), words.encode())


def write_variable(fd, name):
    os.write(int(fd), os.environ.get(name, "unset").encode())


def say(*words):
    """Prints the words on standard output (flushed by the worker's exit)."""
    print(" ".join(words))


def await_file(path, code):
    """Waits until `path` exists, then returns code: a worker that runs until the test lets it go."""
    import time

    while not os.path.exists(path):
        time.sleep(0.01)
    return int(code)


def import_late_and_await(mark, path):
    """Imports a module the template never imported, writes `mark`, and waits for `path`."""
    import colorsys  # noqa: F401 (the import is the point)

    with open(mark, "w") as f:
        f.write("imported")
    return await_file(path, 0)


def pool_worker(log):
    """A pool's worker: says READY=1 through forkctl_host, logs its id, then idles until stopped."""
    import time

    with open(log, "a") as f:
        f.write("worker %s %s %s\n" % (forkctl_host.worker_id(), forkctl_host.pool(), os.getpid()))
    forkctl_host.notify("READY=1")
    while True:
        time.sleep(60)


def numpy_sum(n):
    """Prints the sum of 0 .. n-1 computed by numpy (loaded into the template)."""
    import numpy

    print(int(numpy.arange(int(n)).sum()))
