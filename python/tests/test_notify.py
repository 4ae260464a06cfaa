"""forkctl.notify: one datagram on FORKCTL_NOTIFY_FD, else to NOTIFY_SOCKET."""

import json
import os
import socket
import subprocess
import sys
import unittest

import forkctl
from tests.support import PYTHON_DIR, DaemonTestCase, wait_until


class NotifyTests(unittest.TestCase):
    def setUp(self):
        self.saved = dict(os.environ)
        os.environ.pop("FORKCTL_NOTIFY_FD", None)
        os.environ.pop("NOTIFY_SOCKET", None)

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.saved)

    def test_outside_a_pool_it_says_so(self):
        self.assertFalse(forkctl.notify("READY=1"))

    def test_one_datagram_per_message_on_the_notify_descriptor(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        with ours, theirs:
            os.environ["FORKCTL_NOTIFY_FD"] = str(theirs.fileno())
            self.assertTrue(forkctl.notify("READY=1\nSTATUS=warming up"))
            self.assertTrue(forkctl.busy())
            self.assertTrue(forkctl.idle())
            self.assertEqual([ours.recv(4096) for _ in range(3)], [b"READY=1\nSTATUS=warming up", b"BUSY=1", b"IDLE=1"])

    def test_an_abstract_notify_socket(self):
        name = "forkctl-py-test-%d" % os.getpid()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
            listener.bind("\0" + name)
            os.environ["NOTIFY_SOCKET"] = "@" + name
            self.assertTrue(forkctl.watchdog())
            self.assertEqual(listener.recv(4096), b"WATCHDOG=1")


class PoolNotifyTests(DaemonTestCase):
    def test_a_python_pool_worker_reports_its_status(self):
        worker = ("import sys; sys.path.insert(0, %r); import forkctl, time; "
                  "forkctl.notify('STATUS=from python'); time.sleep(60)" % PYTHON_DIR)
        env = dict(os.environ, FORKCTL_SOCKET=self.socket)

        def forkctl_cli(*args):
            return subprocess.run([self.binary, *args], env=env, capture_output=True, check=True).stdout

        forkctl_cli("pool", "create", "py-notify", "--from", "default", "--", sys.executable, "-c", worker)
        try:
            def said():
                [pool] = json.loads(forkctl_cli("pool", "status", "--json", "py-notify"))
                return [w["status"] for w in pool["workers"]] == ["from python"]
            self.assertTrue(wait_until(said))
        finally:
            forkctl_cli("pool", "stop", "py-notify")
