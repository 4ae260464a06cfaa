"""Finding and starting the daemon as the Swift library does, and a daemon that goes away."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

import forkctl
from tests.support import PYTHON_DIR, forkctl_binary, pid_exists, wait_until


class SocketPathTests(unittest.TestCase):
    def setUp(self):
        self.saved = dict(os.environ)

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.saved)

    def test_forkctl_socket_first_then_xdg_runtime_dir(self):
        os.environ["FORKCTL_SOCKET"] = "/x/sock"
        os.environ["XDG_RUNTIME_DIR"] = "/run/user/7"
        self.assertEqual(forkctl.default_socket_path(), "/x/sock")
        os.environ["FORKCTL_SOCKET"] = ""
        self.assertEqual(forkctl.default_socket_path(), "/run/user/7/forkctl/sock")

    def test_tmp_unless_another_user_took_it(self):
        os.environ.pop("FORKCTL_SOCKET", None)
        os.environ.pop("XDG_RUNTIME_DIR", None)
        os.environ["HOME"] = "/home/someone"
        shared = "/tmp/forkctl-%d" % os.getuid()
        expected = shared + "/sock"
        try:
            st = os.lstat(shared)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                expected = "/home/someone/.forkctl/sock"
        except FileNotFoundError:
            pass
        self.assertEqual(forkctl.default_socket_path(), expected)

    def test_timeout_from_the_environment(self):
        os.environ["FORKCTL_TIMEOUT"] = "2.5"
        self.assertEqual(forkctl.timeout_from_environment(), 2.5)
        os.environ["FORKCTL_TIMEOUT"] = "0"
        self.assertIsNone(forkctl.timeout_from_environment())
        os.environ["FORKCTL_TIMEOUT"] = "soon"
        with self.assertRaises(forkctl.DaemonUnavailable):
            forkctl.timeout_from_environment()


class AutoStartTests(unittest.TestCase):
    def setUp(self):
        self.binary = forkctl_binary()
        self.dir = tempfile.mkdtemp(prefix="forkctl-py-")
        self.socket = os.path.join(self.dir, "run", "sock")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_python(self, code, env):
        """Runs code in a fresh interpreter that imports the package from the tree."""
        env = dict(env, PYTHONPATH=PYTHON_DIR, PYTHONDONTWRITEBYTECODE="1")
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)

    def stop(self):
        c = forkctl.Client(self.socket, auto_start=False)
        pid = c.hello()[1]
        c.shutdown()
        c.close()
        wait_until(lambda: not pid_exists(pid))

    def test_a_client_starts_the_daemon_found_in_path(self):
        bin = os.path.join(self.dir, "bin")
        os.mkdir(bin)
        os.symlink(self.binary, os.path.join(bin, "forkctl"))
        env = {"FORKCTL_SOCKET": self.socket, "PATH": bin + ":/usr/bin:/bin", "HOME": self.dir}
        done = self.run_python("import forkctl; print(forkctl.Client().hello()[1])", env)
        self.assertEqual(done.returncode, 0, done.stderr)
        pid = int(done.stdout)
        try:
            self.assertTrue(pid_exists(pid))
            self.assertTrue(stat.S_ISSOCK(os.stat(self.socket).st_mode))
            self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.socket)).st_mode), 0o700)
            # The next client finds it running.
            again = self.run_python("import forkctl; print(forkctl.Client().hello()[1])", env)
            self.assertEqual(int(again.stdout), pid)
        finally:
            self.stop()

    def test_forkctl_executable_names_the_binary(self):
        env = {"FORKCTL_SOCKET": self.socket, "FORKCTL_EXECUTABLE": self.binary, "PATH": "/usr/bin:/bin"}
        done = self.run_python("import forkctl; p = forkctl.spawn(['true']); print(p.wait())", env)
        self.assertEqual((done.returncode, done.stdout, done.stderr), (0, b"0\n", b""))
        self.stop()

    def test_two_clients_racing_start_one_daemon(self):
        env = {"FORKCTL_SOCKET": self.socket, "FORKCTL_EXECUTABLE": self.binary, "PATH": "/usr/bin:/bin"}
        code = "import forkctl; print(forkctl.Client().hello()[1])"
        racers = [subprocess.Popen([sys.executable, "-c", code], env=dict(env, PYTHONPATH=PYTHON_DIR),
                                   stdout=subprocess.PIPE) for _ in range(4)]
        pids = {int(r.communicate(timeout=60)[0]) for r in racers}
        self.assertEqual(len(pids), 1)
        self.stop()

    def test_no_daemon_and_no_auto_start_is_daemon_unavailable(self):
        with self.assertRaises(forkctl.DaemonUnavailable) as caught:
            forkctl.Client(self.socket, auto_start=False)
        self.assertIsInstance(caught.exception, ConnectionError)
        self.assertIn(self.socket, str(caught.exception))

    def test_no_executable_says_how_to_name_one(self):
        saved = dict(os.environ)
        try:
            os.environ.pop("FORKCTL_EXECUTABLE", None)
            os.environ["PATH"] = self.dir
            with self.assertRaises(forkctl.DaemonUnavailable) as caught:
                forkctl.Client(self.socket)
            self.assertIn("FORKCTL_EXECUTABLE", str(caught.exception))
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def test_a_socket_path_too_long_for_a_daemon(self):
        with self.assertRaises(forkctl.DaemonUnavailable) as caught:
            forkctl.Client(os.path.join(self.dir, "x" * 100, "sock"), executable=self.binary)
        self.assertIn("more than the 95", str(caught.exception))

    def test_a_daemon_that_goes_away_is_connection_lost(self):
        c = forkctl.Client(self.socket, executable=self.binary)
        other = forkctl.Client(self.socket, auto_start=False)
        pid = other.hello()[1]
        other.shutdown()
        other.close()
        wait_until(lambda: not pid_exists(pid))
        with self.assertRaises(forkctl.ConnectionLost) as caught:
            c.hello()
        self.assertIsInstance(caught.exception, ConnectionError)
        c.close()
