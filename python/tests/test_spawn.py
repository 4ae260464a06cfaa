"""forkctl.spawn and Process, the subprocess.Popen-like subset, against a private daemon."""

import gc
import os
import signal
import sys
import threading
import time

import forkctl
from tests.support import DaemonTestCase, pid_exists, wait_until


class SpawnTests(DaemonTestCase):
    def spawn(self, args, **kw):
        return self.client.spawn(args, **kw)

    def test_pipes_carry_stdin_stdout_and_stderr(self):
        p = self.spawn(["sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"], stdin=forkctl.PIPE, stdout=forkctl.PIPE,
                       stderr=forkctl.PIPE)
        out, err = p.communicate(b"hello\n")
        self.assertEqual((out, err, p.returncode), (b"HELLO\n", b"oops\n", 3))
        self.assertEqual(str(p.status), "exited:3")

    def test_text_mode_and_stderr_to_stdout(self):
        p = self.spawn(["sh", "-c", "echo out; echo err >&2"], stdout=forkctl.PIPE, stderr=forkctl.STDOUT, text=True)
        out, err = p.communicate()
        self.assertEqual(sorted(out.splitlines()), ["err", "out"])
        self.assertIsNone(err)

    def test_pipe_file_objects_read_to_the_end(self):
        with self.spawn(["printf", "a\\nb\\n"], stdout=forkctl.PIPE) as p:
            self.assertEqual(p.stdout.read(), b"a\nb\n")
        self.assertEqual(p.returncode, 0)

    def test_devnull_and_a_descriptor_and_a_file_object(self):
        path = self.temporary_file("out.txt")
        with open(path, "wb") as f:
            self.assertEqual(self.spawn(["echo", "to file"], stdout=f, stdin=forkctl.DEVNULL).wait(), 0)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            self.assertEqual(self.spawn(["echo", "to fd"], stdout=fd).wait(), 0)
        finally:
            os.close(fd)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"to file\nto fd\n")
        p = self.spawn(["cat"], stdin=forkctl.DEVNULL, stdout=forkctl.PIPE)
        self.assertEqual(p.communicate(), (b"", None))

    def test_pass_fds_keeps_their_numbers(self):
        r, w = os.pipe2(os.O_CLOEXEC)
        high = os.dup2(w, 9, inheritable=False)
        os.close(w)
        try:
            p = self.spawn(["sh", "-c", "echo through nine >&9"], pass_fds=[9])
            self.assertEqual(p.wait(), 0)
        finally:
            os.close(high)
        with os.fdopen(r, "rb") as f:
            self.assertEqual(f.read(), b"through nine\n")

    def test_env_and_cwd(self):
        p = self.spawn(["sh", "-c", 'echo "$GREETING"; pwd'], env={"GREETING": "hi there", "PATH": "/usr/bin:/bin"},
                       cwd=self.dir, stdout=forkctl.PIPE)
        out, _ = p.communicate()
        self.assertEqual(out.decode().splitlines(), ["hi there", os.path.realpath(self.dir)])
        # By default: our environment and our working directory.
        os.environ["FORKCTL_PY_TEST"] = "inherited"
        try:
            here = os.getcwd()
            os.chdir(self.dir)
            try:
                p = self.spawn(["sh", "-c", 'echo "$FORKCTL_PY_TEST"; pwd'], stdout=forkctl.PIPE)
            finally:
                os.chdir(here)
        finally:
            del os.environ["FORKCTL_PY_TEST"]
        self.assertEqual(p.communicate()[0].decode().splitlines(), ["inherited", os.path.realpath(self.dir)])

    def test_umask_goes_with_the_program(self):
        old = os.umask(0o027)
        try:
            p = self.spawn(["sh", "-c", "umask"], stdout=forkctl.PIPE)
        finally:
            os.umask(old)
        self.assertEqual(p.communicate()[0].strip(), b"0027")

    def test_pid_pidfd_and_id(self):
        p = self.spawn(["sleep", "30"])
        try:
            self.assertGreater(p.pid, 0)
            self.assertGreater(p.id, 0)
            self.assertIsNotNone(p.pidfd)
            self.assertTrue(pid_exists(p.pid))
            entry = [e for e in self.client.list() if e.id == p.id]
            self.assertEqual([e.pid for e in entry], [p.pid])
        finally:
            p.kill()
            p.wait()
        self.assertEqual(p.returncode, -signal.SIGKILL)

    def test_poll_and_wait_with_a_timeout(self):
        p = self.spawn(["sleep", "30"])
        self.assertIsNone(p.poll())
        with self.assertRaises(forkctl.TimeoutExpired):
            p.wait(timeout=0.2)
        p.terminate()
        self.assertEqual(p.wait(timeout=10), -signal.SIGTERM)
        self.assertEqual(p.poll(), -signal.SIGTERM)
        # Once ended, signals are nothing.
        p.kill()
        self.assertEqual(p.returncode, -signal.SIGTERM)

    def test_send_signal_reaches_the_program(self):
        # The whole process group gets it: sh, and its sleep, whose death sh would report.
        p = self.spawn(["sh", "-c", "trap 'exit 42' USR1; while :; do sleep 0.05; done"], stderr=forkctl.DEVNULL)
        time.sleep(0.3)  # the trap is set
        p.send_signal(signal.SIGUSR1)
        self.assertEqual(p.wait(timeout=10), 42)

    def test_a_signal_from_another_thread_ends_a_wait(self):
        p = self.spawn(["sleep", "30"])
        waiter = threading.Thread(target=p.wait)
        waiter.start()
        time.sleep(0.2)  # wait() is blocked on the status
        p.terminate()
        waiter.join(10)
        self.assertFalse(waiter.is_alive())
        self.assertEqual(p.returncode, -signal.SIGTERM)

    def test_missing_program_raises_program_not_found(self):
        with self.assertRaises(forkctl.ProgramNotFound) as caught:
            self.spawn(["no-such-program-forkctl-py"])
        self.assertEqual(caught.exception.code, forkctl.PROGRAM_NOT_FOUND)
        self.assertTrue(caught.exception.message.startswith("no-such-program-forkctl-py"))

    def test_missing_program_leaves_no_descriptor_open(self):
        gc.collect()
        before = _open_descriptors()
        for _ in range(3):
            with self.assertRaises(forkctl.ProgramNotFound):
                self.spawn(["no-such-program-forkctl-py"], stdin=forkctl.PIPE, stdout=forkctl.PIPE)
        self.assertEqual(_open_descriptors(), before)

    def test_dropping_a_process_ends_the_program_unless_detached(self):
        p = self.spawn(["sleep", "30"])
        pid = p.pid
        p.close()
        self.assertTrue(wait_until(lambda: not _alive(pid)))
        d = self.spawn(["sleep", "30"], detach=True, name="py-detached")
        pid = d.pid
        d.close()
        time.sleep(0.2)
        self.assertTrue(_alive(pid))
        self.client.kill("py-detached", signal.SIGKILL)
        [(_, status)] = self.client.wait("py-detached")
        self.assertEqual(status.signal, signal.SIGKILL)

    def test_context_manager_waits(self):
        with self.spawn(["sh", "-c", "exit 5"]) as p:
            pass
        self.assertEqual(p.returncode, 5)

    def test_module_level_spawn_uses_the_default_client(self):
        os.environ["FORKCTL_SOCKET"] = self.socket
        try:
            forkctl._forget_default_client()
            p = forkctl.spawn([sys.executable, "-c", "print(6 * 7)"], stdout=forkctl.PIPE)
            self.assertEqual(p.communicate()[0], b"42\n")
            self.assertEqual(forkctl.default_client().path, self.socket)
        finally:
            del os.environ["FORKCTL_SOCKET"]
            forkctl.default_client().close()
            forkctl._forget_default_client()

    def test_many_spawns_reuse_connections(self):
        for i in range(20):
            self.assertEqual(self.spawn(["sh", "-c", "exit %d" % i]).wait(), i)
        self.assertLessEqual(len(self.client._idle), 1)


def _open_descriptors():
    """{number: what it is}, without the descriptor that listing them opened (gone by then)."""
    out = {}
    for n in os.listdir("/proc/self/fd"):
        try:
            out[n] = os.readlink("/proc/self/fd/" + n)
        except FileNotFoundError:
            pass
    return out


def _alive(pid):
    """Running (a zombie counts as ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
