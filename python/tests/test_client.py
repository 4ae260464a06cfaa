"""The step-by-step calls of forkctl.Client and their typed exceptions, against a private
daemon."""

import os
import signal

import forkctl
from tests.support import DaemonTestCase

ENV = {"PATH": "/usr/bin:/bin"}


class StepByStepTests(DaemonTestCase):
    def test_hello(self):
        version, pid = self.client.hello()
        self.assertEqual((version, pid), (1, self.daemon_pid))

    def test_status(self):
        w = self.client.new()
        s = self.client.status()
        self.assertEqual((s.pid, s.protocol), (self.daemon_pid, 1))
        self.assertRegex(s.version, r"^\d+\.\d+\.\d+")
        self.assertGreaterEqual(s.ready, 1)
        self.assertGreaterEqual(s.templates, 1)  # the default template new forked from
        self.assertGreaterEqual(s.connections, 1)
        self.assertGreater(s.started_ms, 1700000000000)
        self.assertTrue(s.log)
        self.client.kill(w.id, 9)
        self.client.wait([w.id])

    def test_new_send_fds_send_args_run_wait(self):
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            made = self.client.new()
            self.assertGreater(made.id, 0)
            self.assertGreater(made.pid, 0)
            self.client.send_fds(made.id, {1: w})
            self.client.send_args(made.id, ["from", "python"])
            self.assertIsNone(self.client.run(made.id, "echo", ["extra"], env=ENV))
            [(id, status)] = self.client.wait(made.id)
        finally:
            os.close(w)
        with os.fdopen(r, "rb") as f:
            self.assertEqual(f.read(), b"from python extra\n")
        self.assertEqual((id, str(status), status.returncode), (made.id, "exited:0", 0))

    def test_run_wait_returns_the_status_and_cwd_is_a_path(self):
        made = self.client.new()
        status = self.client.run(made.id, "sh", ["-c", 'test "$(pwd)" = "$0" && exit 7', os.path.realpath(self.dir)],
                                 env=ENV, cwd=self.dir, wait=True)
        self.assertEqual((status.exited, status.code), (True, 7))

    def test_exec_and_fork_make_templates_and_copies(self):
        t = self.client.exec("py-native")
        self.client.send_args(t.id, ["-c", "exit 4"])
        child = self.client.fork("py-native")
        # sh gets the strings sent to its template: sh -c "exit 4".
        status = self.client.run(child.id, "sh", env=ENV, wait=True)
        self.assertEqual(status.code, 4)
        entries = {e.id: e for e in self.client.list()}
        self.assertEqual(entries[t.id].name, b"py-native")
        self.assertEqual(forkctl.Entry.ROLES[entries[t.id].role], "template")
        self.assertEqual(entries[child.id].parent, t.id)
        self.client.kill(t.id, signal.SIGKILL)
        self.client.wait(t.id)

    def test_kill_list_forget(self):
        made = self.client.new("py-sleeper")
        self.client.run("py-sleeper", "sleep", ["100"], env=ENV)
        self.client.kill(["py-sleeper"], signal.SIGTERM)
        [(id, status)] = self.client.wait(["py-sleeper"])
        self.assertEqual((id, status.signal), (made.id, signal.SIGTERM))
        [entry] = [e for e in self.client.list() if e.id == made.id]
        self.assertEqual((entry.name, forkctl.Entry.STATES[entry.state], entry.status, entry.program),
                         (b"py-sleeper", "exited", status, b"sleep"))
        self.assertEqual(self.client.forget(made.id), [(made.id, status)])
        self.assertEqual([e for e in self.client.list() if e.id == made.id], [])

    def test_a_wait_outlasts_the_timeout(self):
        # The timeout bounds the daemon's answers, not how long a program runs.
        with forkctl.Client(self.socket, auto_start=False, timeout=0.3) as c:
            made = c.new()
            c.run(made.id, "sleep", ["1"], env=ENV)
            [(_, status)] = c.wait(made.id)
            self.assertEqual(status.code, 0)
            p = c.spawn(["sleep", "1"])
            self.assertEqual(p.wait(), 0)

    def test_call_needs_something_loaded(self):
        t = self.client.exec()
        w = self.client.fork(t.id)
        with self.assertRaises(forkctl.WrongState):
            self.client.call(w.id, "answer", env=ENV, wait=True)

    def test_memory_and_audit(self):
        t = self.client.exec()
        w = self.client.fork(t.id)
        entries = self.client.memory([t.id, w.id])
        self.assertEqual([e.parent for e in entries], [0, t.id])
        self.assertTrue(all(e.reading == 0 and 0 < e.figures["pss"] <= e.figures["rss"] for e in entries))
        self.assertEqual(self.client.audit(w.id), forkctl.Mappings([], []))


class TypedExceptionTests(DaemonTestCase):
    def test_unknown_ids_raise_unknown_id(self):
        for call in (lambda: self.client.wait(["no-such-name"]), lambda: self.client.fork(999999),
                     lambda: self.client.kill(424242), lambda: self.client.send_args("nobody", ["x"])):
            with self.assertRaises(forkctl.UnknownID) as caught:
                call()
            self.assertEqual(caught.exception.code, forkctl.UNKNOWN_PROCESS)
            self.assertIsInstance(caught.exception, forkctl.ForkctlError)

    def test_wrong_states_raise_wrong_state(self):
        made = self.client.new()
        self.client.run(made.id, "true", env=ENV, wait=True)
        with self.assertRaises(forkctl.WrongState):
            self.client.send_args(made.id, ["late"])
        with self.assertRaises(forkctl.WrongState):
            self.client.fork(made.id)
        with self.assertRaises(forkctl.WrongState):
            self.client.load("default", "libm.so.6")
        sleeper = self.client.new()
        self.client.run(sleeper.id, "sleep", ["30"], env=ENV)
        with self.assertRaises(forkctl.WrongState):
            self.client.forget(sleeper.id)
        self.client.kill(sleeper.id, signal.SIGKILL)
        self.client.wait(sleeper.id)

    def test_a_name_in_use(self):
        self.client.new("py-taken")
        with self.assertRaises(forkctl.NameInUse):
            self.client.new("py-taken")

    def test_a_load_that_fails(self):
        t = self.client.exec()
        with self.assertRaises(forkctl.LoadFailed):
            self.client.load(t.id, "/no/such/library.so")

    def test_a_protocol_violation_closes_the_connection(self):
        with forkctl.Connection(self.socket, auto_start=False) as v:
            v.send_frame(forkctl._wire.HELLO, b"\x01", version=2)
            with self.assertRaises(forkctl.ProtocolViolation) as caught:
                v.recv_reply()
            self.assertEqual(caught.exception.code, forkctl.PROTOCOL_ERROR)
            with self.assertRaises(forkctl.ConnectionClosed):
                v.recv_frame()
        # The client's own connection goes on.
        self.assertEqual(self.client.hello()[0], 1)

    def test_an_unknown_code_is_a_forkctl_error_with_that_code(self):
        e = forkctl.error_for(999, "from a newer daemon")
        self.assertIs(type(e), forkctl.ForkctlError)
        self.assertEqual((e.code, e.message), (999, "from a newer daemon"))
