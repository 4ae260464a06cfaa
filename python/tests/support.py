"""A private daemon for each test class: its socket in a 0700 temporary directory, started by
the package itself from the forkctl binary named in FORKCTL_BINARY (the built one)."""

import os
import shutil
import signal
import tempfile
import time
import unittest

import forkctl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(REPO, "python")


def forkctl_binary():
    path = os.environ.get("FORKCTL_BINARY")
    if not path:
        raise unittest.SkipTest("FORKCTL_BINARY names no forkctl binary (Scripts/test sets it)")
    return os.path.abspath(path)


def pid_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class DaemonTestCase(unittest.TestCase):
    """setUpClass: a fresh daemon at cls.socket, and cls.client connected to it."""

    @classmethod
    def setUpClass(cls):
        cls.binary = forkctl_binary()
        cls.dir = tempfile.mkdtemp(prefix="forkctl-py-")  # mkdtemp makes it 0700
        cls.socket = os.path.join(cls.dir, "run", "sock")
        cls.client = forkctl.Client(cls.socket, executable=cls.binary)
        cls.daemon_pid = cls.client.hello()[1]

    @classmethod
    def tearDownClass(cls):
        try:
            cls.client.shutdown()
        finally:
            cls.client.close()
            # The daemon removes its socket before its ok; its process may take a moment more.
            wait_until(lambda: not pid_exists(cls.daemon_pid))
            if pid_exists(cls.daemon_pid):
                os.kill(cls.daemon_pid, signal.SIGKILL)
            shutil.rmtree(cls.dir, ignore_errors=True)

    def temporary_file(self, name, content=b""):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(content)
        return path
