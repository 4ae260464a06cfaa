"""The language hosts from this package: exec(python=True) and exec(perl=True), load, eval,
call, and the forkserver user's Template and TemplateProcess (issue 14, design hosts14)."""

import multiprocessing.connection
import os
import signal
import sys
import time

import forkctl
from tests.support import DaemonTestCase

HOSTMODS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostmods")
ENV = {"PATH": "/usr/bin:/bin"}


class HostTestCase(DaemonTestCase):
    def host(self, *modules):
        t = self.client.exec(python=True, interpreter=sys.executable, env=ENV)
        for m in modules:
            self.client.load(t.id, m, cwd=HOSTMODS)
        return t

    def call(self, template, function, args=(), *, sent=()):
        """Forks a worker of template, gives it a pipe on 1 and 2 and `sent` strings, calls
        function; -> (Status, what it wrote)."""
        worker = self.client.fork(template.id)
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            self.client.send_fds(worker.id, {1: w, 2: w})
            if sent:
                self.client.send_args(worker.id, sent)
            status = self.client.call(worker.id, function, args, env=ENV, wait=True)
        finally:
            os.close(w)
        with os.fdopen(r, "rb") as f:
            return status, f.read().decode()


class HostTests(HostTestCase):
    def test_a_host_template_is_single_threaded_after_a_load(self):
        t = self.host()
        self.assertEqual(self.client.load(t.id, "json"), [b"forkctl/object"])

    def test_call_with_sent_strings_and_arguments(self):
        t = self.host()
        self.client.load(t.id, "forkctl_py_hostmod", ["x", "y"], init="init", cwd=HOSTMODS)
        status, out = self.call(t, "forkctl_py_hostmod:echo", ["b", "c"], sent=["a"])
        self.assertEqual((str(status), out), ("exited:0", "a\nb\nc\ninit=('x', 'y')\n"))

    def test_return_values_exceptions_and_system_exit(self):
        t = self.host("forkctl_py_hostmod")
        self.assertEqual(self.call(t, "forkctl_py_hostmod:status", ["300"])[0].code, 300 & 0xFF)
        status, out = self.call(t, "forkctl_py_hostmod:fail", ["boom"])
        self.assertEqual(status.code, 1)
        self.assertIn("Traceback", out)
        self.assertIn("RuntimeError: boom", out)
        self.assertEqual(self.call(t, "forkctl_py_hostmod:leave", ["7"])[0].code, 7)
        self.assertEqual(self.call(t, "forkctl_py_hostmod:forked")[0].code, 0)
        self.assertEqual(self.call(t, "forkctl_py_hostmod:Greeter.hello", ["you"]), (forkctl.Status(1, 0),
                                                                                    "hello, you\n"))

    def test_a_missing_function_is_symbol_not_found(self):
        t = self.host("forkctl_py_hostmod")
        worker = self.client.fork(t.id)
        with self.assertRaises(forkctl.SymbolNotFound):
            self.client.call(worker.id, "forkctl_py_hostmod:no_such_function", env=ENV, wait=True)

    def test_a_missing_module_is_load_failed(self):
        t = self.host()
        with self.assertRaises(forkctl.LoadFailed) as caught:
            self.client.load(t.id, "forkctl_py_no_such_module")
        self.assertIn("forkctl_py_no_such_module", caught.exception.message)

    def test_eval_runs_in_main_with_argv(self):
        t = self.host()
        path = self.temporary_file("eval.out")
        self.client.eval(t.id, "import sys\nopen(sys.argv[1], 'w').write(repr(sys.argv))", [path, "two"])
        with open(path) as f:
            self.assertEqual(f.read(), repr(["-c", path, "two"]))

    def test_eval_in_a_native_template_is_wrong_state(self):
        t = self.client.exec()
        with self.assertRaises(forkctl.WrongState) as caught:
            self.client.eval(t.id, "pass")
        self.assertIn("exec --python", caught.exception.message)

    def test_a_thread_started_at_import_refuses_forks(self):
        t = self.host()
        names = self.client.load(t.id, "forkctl_py_threaded", cwd=HOSTMODS)
        # Python before 3.14 does not name its threads for the kernel: they keep the host's name.
        self.assertEqual(len(names), 2)
        with self.assertRaises(forkctl.TemplateFailed) as caught:
            self.client.fork(t.id)
        self.assertIn("threads", caught.exception.message)

    def test_audit_names_modules_imported_after_the_fork(self):
        t = self.host("forkctl_py_hostmod")
        p = self.client.spawn(["forkctl_py_hostmod:import_then_sleep", "colorsys", "30"], template=t.id, call=True,
                              env=ENV)
        try:
            deadline = time.monotonic() + 10
            modules = []
            while "colorsys" not in modules and time.monotonic() < deadline:
                modules = [m.decode() for m in self.client.audit(p.id).modules]
                time.sleep(0.05)
            self.assertIn("colorsys", modules)
            self.assertNotIn("forkctl_py_hostmod", modules)
        finally:
            p.kill()
            p.wait()

    def test_the_status_survives_the_host_killed_while_a_worker_runs(self):
        t = self.host("forkctl_py_hostmod")
        p = self.client.spawn(["forkctl_py_hostmod:import_then_sleep", "os", "1"], template=t.id, call=True, env=ENV)
        self.client.kill(t.id, signal.SIGKILL)
        self.assertEqual(p.wait(timeout=30), 0)


class PerlHostTests(HostTestCase):
    def test_eval_load_and_call_of_module_functions(self):
        t = self.client.exec(perl=True, env=ENV)
        self.client.eval(t.id, "unshift @INC, $ARGV[0]", [HOSTMODS])
        self.client.load(t.id, "ForkctlPyTest")
        self.assertEqual(self.call(t, "ForkctlPyTest::echo", ["b"], sent=["a"]), (forkctl.Status(1, 0), "a\nb\n"))
        self.assertEqual(self.call(t, "ForkctlPyTest::status", ["9"])[0].code, 9)
        status, out = self.call(t, "ForkctlPyTest::fail", ["boom"])
        self.assertEqual(status.code, 1)
        self.assertIn("boom", out)


class TemplateTests(HostTestCase):
    def setUp(self):
        sys.path.insert(0, HOSTMODS)
        os.environ["FORKCTL_SOCKET"] = self.socket
        forkctl._forget_default_client()

    def tearDown(self):
        sys.path.remove(HOSTMODS)
        del os.environ["FORKCTL_SOCKET"]
        if forkctl._default is not None:
            forkctl._default.close()
        forkctl._forget_default_client()

    def test_preload_then_processes_like_multiprocessing(self):
        with forkctl.Template(preload=["forkctl_py_hostmod"]) as t:
            path = self.temporary_file("template.out")
            with open(path, "wb") as out:
                procs = [t.Process(target="forkctl_py_hostmod:echo", args=("w%d" % i,), stdout=out) for i in range(3)]
                for p in procs:
                    self.assertIsNone(p.exitcode)
                    p.start()
                for p in procs:
                    p.join()
            self.assertEqual([p.exitcode for p in procs], [0, 0, 0])
            self.assertTrue(all(p.pid > 0 for p in procs))
            with open(path) as f:
                self.assertEqual(sorted(line for line in f.read().splitlines() if line.startswith("w")),
                                 ["w0", "w1", "w2"])

    def test_exit_codes_join_timeout_and_terminate(self):
        import forkctl_py_hostmod
        with forkctl.Template(preload=["forkctl_py_hostmod"]) as t:
            p = t.Process(target=forkctl_py_hostmod.status, args=(3,))
            p.start()
            p.join()
            self.assertEqual(p.exitcode, 3)
            slow = t.Process(target="forkctl_py_hostmod:import_then_sleep", args=("os", 30))
            slow.start()
            slow.join(timeout=0.2)
            self.assertTrue(slow.is_alive())
            self.assertEqual(multiprocessing.connection.wait([slow.sentinel], timeout=0.1), [])
            slow.terminate()
            self.assertEqual(multiprocessing.connection.wait([slow.sentinel], timeout=10), [slow.sentinel])
            slow.join()
            self.assertEqual(slow.exitcode, -signal.SIGTERM)

    def test_a_target_in_main_is_refused_with_advice(self):
        def local():
            pass
        local.__module__ = "__main__"
        with self.assertRaises(ValueError) as caught:
            forkctl.template.target_name(local)
        self.assertIn("module:function", str(caught.exception))
