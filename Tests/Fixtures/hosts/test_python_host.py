"""Tests of Hosts/python/forkctl_host.py against a fake daemon (unittest, standard library only).

The harness starts the host as the daemon does (argv [python3, /proc/self/fd/4, ID], the
control socket on 3, the script on 4, /dev/null on 0 and 1, cwd /, its own process group),
speaks the daemon's side of forkctl-protocol(7) to it, and is a subreaper, as the daemon is,
so that a worker whose host died comes back to it.

    python3 Tests/Fixtures/hosts/test_python_host.py [-v] [TestClass.test_name]
"""

import array
import ctypes
import errno
import os
import select
import signal
import socket
import struct
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = os.path.join(HERE, "..", "..", "..", "Hosts", "python", "forkctl_host.py")
TIMEOUT = 20

FORK, FDS, ARGS, RUN, SPAWN, LOAD, EVAL = 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86
FORKED, REFUSED, EXEC_FAILED, SPAWNED, SPAWNING, LOADED, LOAD_REFUSED, HOST_CHILD, CHILD_ENDED, HOST_READY = range(
    0xC0, 0xCA
)
KEEP_CONTROL, WORKING_DIRECTORY, ENVIRONMENT, STATUS_PIPE, ATTRIBUTES, CALL, QUICK_EXIT = 1, 2, 4, 16, 32, 128, 256
EXITED, SIGNALED = 1, 2
HEADER = struct.Struct("<BBHI")


def u32(n):
    return struct.pack("<I", n)


def i32(n):
    return struct.pack("<i", n)


def string(s):
    s = s.encode() if isinstance(s, str) else s
    return u32(len(s)) + s


def strings(items):
    return u32(len(items)) + b"".join(string(s) for s in items)


def targets(ts):
    return u32(len(ts)) + b"".join(i32(-1 if t is None else t) for t in ts)


def run_spec(program, arguments=(), flags=0, environment=None):
    if environment is not None:
        flags |= ENVIRONMENT
    out = u32(flags) + string(program) + strings(list(arguments))
    if environment is not None:
        out += strings(["%s=%s" % kv for kv in environment.items()])
    return out


def attributes(umask=0o022, nice=0, ignored=0, blocked=0, limits=()):
    out = u32(umask) + i32(nice) + struct.pack("<QQ", ignored, blocked) + u32(len(limits))
    for resource, soft, hard in limits:
        out += u32(resource) + struct.pack("<QQ", soft, hard)
    return out + u32(0) + b"\0" * 40


def test_environment(**extra):
    # No __pycache__ beside the fixtures: the host imports them from this directory.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra)
    return env


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


class Channel:
    """One end of a control socket, read by the rules of forkctl-protocol(7), DESCRIPTORS."""

    def __init__(self, sock):
        self.sock = sock
        # childEnded reports that came while another report was awaited: pid -> (tag, value).
        self.ended = {}

    def send(self, kind, payload=b"", fds=()):
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        self.sock.sendmsg([HEADER.pack(1, kind, len(fds), len(payload)) + payload], anc)

    def _read(self, want, fds):
        data = b""
        while len(data) < want:
            ready, _, _ = select.select([self.sock], [], [], TIMEOUT)
            if not ready:
                raise TimeoutError("no frame from the host within %d s" % TIMEOUT)
            chunk, anc, _, _ = self.sock.recvmsg(want - len(data), socket.CMSG_SPACE(64 * 4), socket.MSG_CMSG_CLOEXEC)
            for _, _, payload in anc:
                got = array.array("i")
                got.frombytes(payload[: len(payload) - len(payload) % 4])
                fds.extend(got)
            if not chunk:
                return None
            data += chunk
        return data

    def receive(self):
        """(type, payload, descriptors), or None at end of file."""
        fds = []
        header = self._read(HEADER.size, fds)
        if header is None:
            return None
        version, kind, nfds, size = HEADER.unpack(header)
        payload = self._read(size, fds) if size else b""
        assert version == 1 and len(fds) == nfds, (version, nfds, fds)
        return kind, payload, fds

    def next_report(self):
        """The next report but a child's end, which may come at any time (kept for child_ended)."""
        frame = self.receive()
        while frame is not None and frame[0] == CHILD_ENDED:
            self.record_end(frame[1])
            frame = self.receive()
        return frame

    def expect(self, kind):
        """The next report, which must be of `kind`."""
        frame = self.receive() if kind == CHILD_ENDED else self.next_report()
        if frame is None:
            raise AssertionError("end of file where report 0x%x was expected" % kind)
        if frame[0] != kind:
            raise AssertionError("report 0x%x (%r) where 0x%x was expected" % (frame[0], frame[1], kind))
        return frame[1], frame[2]

    def record_end(self, payload):
        pid, tag, value = struct.unpack("<iBi", payload)
        assert pid not in self.ended, "a second childEnded for %d" % pid
        self.ended[pid] = (tag, value)

    def at_end(self):
        return self.receive() is None


def refusal(payload):
    (code,) = struct.unpack_from("<H", payload)
    (n,) = struct.unpack_from("<I", payload, 2)
    return code, payload[6 : 6 + n].decode()


def census(payload):
    (count,) = struct.unpack_from("<I", payload)
    at, names = 8, []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", payload, at)
        names.append(payload[at + 4 : at + 4 + n].decode())
        at += 4 + n
    return names


class Host:
    """A host started as the daemon starts it, and the process objects forked from it."""

    def __init__(self, environment=None):
        self.stderr = tempfile.TemporaryFile()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        script = os.open(HOST, os.O_RDONLY | os.O_CLOEXEC)
        # Above every number the child's dup2 calls write to, so that none overwrites another.
        sources = [fcntl_dup(fd) for fd in (self.stderr.fileno(), child.fileno(), script)]
        env = environment if environment is not None else test_environment()
        pid = os.fork()
        if pid == 0:
            try:
                null = os.open("/dev/null", os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(null, 1)
                for fd, target in zip(sources, (2, 3, 4)):
                    os.dup2(fd, target)
                os.chdir("/")
                os.setpgid(0, 0)
                os.execve(sys.executable, [sys.executable, "/proc/self/fd/4", "1"], env)
            finally:
                os._exit(127)
        for fd in sources + [script]:
            os.close(fd)
        child.close()
        self.pid = pid
        self.control = Channel(parent)
        self.channels = [self.control]
        # A host's first report, once it serves: what the daemon answers exec with.
        payload, fds = self.control.expect(HOST_READY)
        assert payload == b"" and not fds, (payload, fds)

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        for channel in self.channels:
            channel.sock.close()
        self.stderr.close()

    def errors(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def fork(self, object_id=2, channel=None):
        """Command fork to the template (or `channel`): returns (the child's channel, pid, pidfd)."""
        channel = channel or self.control
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        channel.send(FORK, struct.pack("<Q", object_id), [theirs.fileno()])
        theirs.close()
        payload, fds = channel.expect(HOST_CHILD)
        (pid,) = struct.unpack("<i", payload)
        assert len(fds) == 1
        (forked,) = struct.unpack("<i", channel.expect(FORKED)[0])
        assert forked == pid, (forked, pid)
        worker = Channel(ours)
        self.channels.append(worker)
        (announced,) = struct.unpack("<i", worker.expect(SPAWNING)[0])
        assert announced == pid, (announced, pid)
        return worker, pid, fds[0]

    def child_ended(self, pid, channel=None):
        """The status the host reports for `pid`: (tag, value)."""
        channel = channel or self.control
        while pid not in channel.ended:
            channel.record_end(channel.expect(CHILD_ENDED)[0])
        return channel.ended.pop(pid)

    def load(self, module, init="", arguments=(), directory=HERE):
        fd = os.open(directory, os.O_PATH | os.O_CLOEXEC)
        try:
            payload = u32(WORKING_DIRECTORY) + string(module) + string(init) + strings(list(arguments))
            self.control.send(LOAD, payload, [fd])
        finally:
            os.close(fd)
        frame = self.control.next_report()
        return frame[0], frame[1]

    def eval(self, code, arguments=()):
        self.control.send(EVAL, u32(0) + string(code) + strings(list(arguments)))
        frame = self.control.next_report()
        return frame[0], frame[1]


def fcntl_dup(fd):
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


def read_all(fd):
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        if not ready:
            raise TimeoutError("nothing written within %d s" % TIMEOUT)
        chunk = os.read(fd, 65536)
        if not chunk:
            return out
        out += chunk


class HostTest(unittest.TestCase):
    def setUp(self):
        self.host = Host()
        self.addCleanup(self.host.close)

    def loaded(self, module="pyhost_fixture", **kw):
        kind, payload = self.host.load(module, **kw)
        self.assertEqual(kind, LOADED, payload)
        return census(payload)

    def pipe(self):
        """A pipe whose ends are closed at the end of the test unless `release`d before."""
        r, w = os.pipe()
        if not hasattr(self, "pipes"):
            self.pipes = set()
            self.addCleanup(lambda: [os.close(fd) for fd in self.pipes])
        self.pipes.update((r, w))
        return r, w

    def release(self, *fds):
        for fd in fds:
            self.pipes.remove(fd)
            os.close(fd)

    def spawn(self, spec, fds=()):
        """A spawn command to the template: returns (pid, failure word)."""
        self.host.control.send(SPAWN, struct.pack("<Q", 9) + targets([t for _, t in fds]) + spec, [f for f, _ in fds])
        (pid,) = struct.unpack("<i", self.host.control.expect(SPAWNING)[0])
        payload, pidfds = self.host.control.expect(HOST_CHILD)
        self.assertEqual(struct.unpack("<i", payload)[0], pid)
        os.close(pidfds[0])
        spawned, word = struct.unpack("<ii", self.host.control.expect(SPAWNED)[0])
        self.assertEqual(spawned, pid)
        return pid, word

    def call(self, target, arguments=(), fds=(), sent=(), flags=0, environment=None, extra=b"", run_fds=()):
        """A worker forked from the template that calls `target`; returns (pid, its channel)."""
        worker, pid, pidfd = self.host.fork()
        os.close(pidfd)
        if fds:
            worker.send(FDS, targets([t for _, t in fds]), [fd for fd, _ in fds])
        if sent:
            worker.send(ARGS, strings(list(sent)))
        spec = run_spec(target, arguments, CALL | flags, environment or test_environment())
        worker.send(RUN, spec + extra, list(run_fds))
        return pid, worker


class CallTests(HostTest):
    def test_call_gets_the_descriptors_sent_and_the_strings_then_its_own(self):
        self.loaded()
        r, w = self.pipe()
        pid, worker = self.call("pyhost_fixture:write", ["world"], fds=[(w, 5)], sent=["5", "hello"])
        self.release(w)
        # The control socket is closed just before the call: that is how the daemon learns it started.
        self.assertTrue(worker.at_end())
        self.assertEqual(read_all(r), b"hello world")
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))

    def test_a_dotted_attribute_path_is_called_and_its_int_is_the_status(self):
        self.loaded()
        r, w = self.pipe()
        pid, _ = self.call("pyhost_fixture:Greeter.greet", ["5", "you"], fds=[(w, 5)])
        self.release(w)
        self.assertEqual(read_all(r), b"hello you")
        self.assertEqual(self.host.child_ended(pid), (EXITED, 4))

    def test_exit_statuses_follow_what_the_function_did(self):
        self.loaded()
        cases = [
            ("pyhost_fixture:exit_with", ["7"], (EXITED, 7)),
            ("pyhost_fixture:exit_with", ["300"], (EXITED, 300 & 0xFF)),
            ("pyhost_fixture:write", ["2"], (EXITED, 0)),
            ("pyhost_fixture:leave", ["3"], (EXITED, 3)),
            ("pyhost_fixture:die", [str(int(signal.SIGTERM))], (SIGNALED, signal.SIGTERM)),
        ]
        for object_id, (target, arguments, status) in enumerate(cases, start=2):
            pid, _ = self.call(target, arguments)
            self.assertEqual(self.host.child_ended(pid), status, target)

    def test_an_exception_prints_its_traceback_on_the_workers_stderr_and_exits_1(self):
        self.loaded()
        r, w = self.pipe()
        pid, _ = self.call("pyhost_fixture:fail", fds=[(w, 2)])
        self.release(w)
        text = read_all(r).decode()
        self.assertIn("Traceback (most recent call last)", text)
        self.assertIn("ValueError: boom from the worker", text)
        self.assertEqual(self.host.child_ended(pid), (EXITED, 1))

    def test_a_traceback_never_reads_descriptor_4_where_the_host_script_was(self):
        # The host's code is named /proc/self/fd/4; a pipe a worker was given on 4 must not be read
        # for its source lines (the traceback would wait on it for ever).
        self.loaded()
        r, w = self.pipe()
        hold_r, hold_w = self.pipe()
        pid, _ = self.call("pyhost_fixture:fail", fds=[(w, 2), (hold_r, 4)])
        self.release(w, hold_r)
        lines = read_all(r).decode().splitlines()
        self.assertEqual(lines[0], "Traceback (most recent call last):")
        self.assertIn("pyhost_fixture.py", lines[1])  # the function's frame first, not the host's
        self.assertEqual(lines[-1], "ValueError: boom from the worker")
        self.assertEqual(self.host.child_ended(pid), (EXITED, 1))

    def test_a_function_not_found_fails_the_run_as_a_missing_symbol_with_127(self):
        self.loaded()
        for target in ("pyhost_fixture:nothing_here", "no_such_module:f"):
            pid, worker = self.call(target)
            (word,) = struct.unpack("<i", worker.expect(EXEC_FAILED)[0])
            self.assertEqual(word, 8 << 16 | errno.ENOENT, target)
            self.assertEqual(self.host.child_ended(pid), (EXITED, 127), target)

    def test_a_worker_is_named_after_its_function_has_its_group_and_the_collector_on(self):
        self.loaded()
        r, w = self.pipe()
        pid, _ = self.call("pyhost_fixture:report", ["5"], fds=[(w, 5)])
        self.release(w)
        lines = read_all(r).decode().splitlines()
        self.assertIn("comm=pyhost_fixture:", lines)  # 15 bytes of pyhost_fixture:report
        self.assertIn("gc=True", lines)
        self.assertIn("pgid=True", lines)
        self.assertIn("control_fd=None", lines)
        self.assertIn("worker_id=2", lines)
        self.assertIn("argv=['pyhost_fixture:report', '5']", lines)
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))

    def test_the_templates_atexit_handlers_never_run_in_a_worker_its_own_do_unless_quick_exit(self):
        self.loaded()
        kind, payload = self.host.eval("import atexit, os\natexit.register(os.write, 5, b'template ')\n")
        self.assertEqual(kind, LOADED, payload)
        r, w = self.pipe()
        pid, _ = self.call("pyhost_fixture:register_exit", ["5", "worker"], fds=[(w, 5)])
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))
        pid, _ = self.call("pyhost_fixture:register_exit", ["5", "quick"], fds=[(w, 5)], flags=QUICK_EXIT)
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))
        self.release(w)
        self.assertEqual(read_all(r), b"worker")

    def test_numerical_libraries_are_held_to_one_thread_unless_the_environment_says_otherwise(self):
        self.host.close()
        self.host = Host(test_environment(OMP_NUM_THREADS="3"))
        self.addCleanup(self.host.close)
        self.loaded()
        r, w = self.pipe()
        # No environment in the spec: the worker gets the host's own.
        self.spawn(run_spec("pyhost_fixture:write_variable", ["5", "OPENBLAS_NUM_THREADS"], CALL), [(w, 5)])
        self.release(w)
        self.assertEqual(read_all(r), b"1")
        r, w = self.pipe()
        pid, _ = self.call("pyhost_fixture:write_variable", ["5", "OMP_NUM_THREADS"], fds=[(w, 5)],
                           environment=dict(os.environ, OMP_NUM_THREADS="3"))
        self.release(w)
        self.assertEqual(read_all(r), b"3")

    def test_keep_control_names_the_socket_and_notify_reaches_the_notify_descriptor(self):
        self.loaded()
        r, w = self.pipe()
        status_r, status_w = self.pipe()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(mine.close)
        env = test_environment(FORKCTL_NOTIFY_FD="6", FORKCTL_POOL="p")
        pid, worker = self.call(
            "pyhost_fixture:report", ["5"], fds=[(w, 5), (theirs.fileno(), 6)], flags=KEEP_CONTROL | STATUS_PIPE,
            environment=env, run_fds=[status_w])
        theirs.close()
        self.release(w)
        self.release(status_w)
        self.assertEqual(read_all(status_r), b"")  # end of file: started
        lines = read_all(r).decode().splitlines()
        self.assertIn("control_fd=7", lines)  # one above the highest target
        self.assertIn("variable=7", lines)
        self.assertIn("pool=p", lines)
        self.assertEqual(mine.recv(100), b"READY=1")
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))

    def test_the_callers_attributes_are_applied_before_the_call(self):
        self.loaded()
        r, w = self.pipe()
        extra = attributes(umask=0o027, ignored=1 << (signal.SIGUSR1 - 1), blocked=1 << (signal.SIGUSR2 - 1),
                           limits=[(7, 100, 100)])
        pid, _ = self.call("pyhost_fixture:attributes", ["5"], fds=[(w, 5)], flags=ATTRIBUTES, extra=extra)
        self.release(w)
        lines = read_all(r).decode().splitlines()
        self.assertEqual(lines, ["umask=27", "usr1=ignored", "blocked=[%d]" % signal.SIGUSR2, "nofile=100"])
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))

    def test_exec_places_descriptors_and_a_missing_program_exits_127(self):
        r, w = self.pipe()
        worker, pid, pidfd = self.host.fork()
        os.close(pidfd)
        worker.send(FDS, targets([5]), [w])
        self.release(w)
        worker.send(RUN, run_spec("sh", ["-c", "echo $0 >&5; ls /proc/self/fd >&5", "hi"], 0, test_environment()))
        self.assertTrue(worker.at_end())
        output = read_all(r).decode().split()
        self.assertEqual(output[0], "hi")
        self.assertEqual(sorted(int(fd) for fd in output[1:]), [0, 1, 2, 3, 5])  # 3: ls's own directory
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))

        worker, pid, pidfd = self.host.fork(3)
        os.close(pidfd)
        worker.send(RUN, run_spec("no-such-program-here", [], 0, test_environment()))
        (word,) = struct.unpack("<i", worker.expect(EXEC_FAILED)[0])
        self.assertEqual(word, errno.ENOENT)
        self.assertEqual(self.host.child_ended(pid), (EXITED, 127))


class SpawnTests(HostTest):
    def test_spawn_call_announces_the_child_then_reports_it_spawned_and_ended(self):
        self.loaded()
        r, w = self.pipe()
        pid, word = self.spawn(run_spec("pyhost_fixture:write", ["5", "spawned"], CALL, test_environment()), [(w, 5)])
        self.release(w)
        self.assertEqual(word, 0)
        self.assertEqual(read_all(r), b"spawned")
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))

    def test_spawn_call_of_a_module_not_imported_yet_imports_it_in_the_new_process(self):
        r, w = self.pipe()
        fd = os.open(HERE, os.O_PATH | os.O_CLOEXEC)
        spec = run_spec("pyhost_fixture:write", ["5", "late"], CALL | WORKING_DIRECTORY, test_environment())
        self.host.control.send(SPAWN, struct.pack("<Q", 9) + targets([5]) + spec, [w, fd])
        os.close(fd)
        self.release(w)
        self.host.control.expect(SPAWNING)
        self.host.control.expect(HOST_CHILD)
        self.assertEqual(struct.unpack("<ii", self.host.control.expect(SPAWNED)[0])[1], 0)
        self.assertEqual(read_all(r), b"late")

    def test_spawn_call_of_a_missing_function_is_refused_with_code_17(self):
        self.loaded()
        self.host.control.send(SPAWN, struct.pack("<Q", 9) + targets([]) + run_spec("pyhost_fixture:nope", [], CALL))
        code, message = refusal(self.host.control.expect(REFUSED)[0])
        self.assertEqual(code, 17, message)
        pid, word = self.spawn(run_spec("no_such_module:f", [], CALL))
        self.assertEqual(word, 8 << 16 | errno.ENOENT)
        self.assertEqual(self.host.child_ended(pid), (EXITED, 127))

    def test_spawn_exec_reports_the_exec_failure(self):
        r, w = self.pipe()
        pid, word = self.spawn(run_spec("sh", ["-c", "echo ran >&5"], 0, test_environment()), [(w, 5)])
        self.release(w)
        self.assertEqual(word, 0)
        self.assertEqual(read_all(r), b"ran\n")
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))
        pid, word = self.spawn(run_spec("no-such-program-here", [], 0, test_environment()))
        self.assertEqual(word, errno.ENOENT)
        self.assertEqual(self.host.child_ended(pid), (EXITED, 127))


class LoadTests(HostTest):
    def test_load_runs_the_init_with_its_arguments_once_in_the_template(self):
        self.assertEqual(self.loaded(init="init", arguments=["a", "b"]), ["forkctl/object"])
        r, w = self.pipe()
        pid, _ = self.call("pyhost_fixture:write_loaded", ["5"], fds=[(w, 5)])
        self.release(w)
        self.assertEqual(read_all(r), b"['a', 'b']")

    def test_load_errors_are_refused_with_their_reason(self):
        cases = [
            ("no_such_module", "", 16, "No module named 'no_such_module'"),
            ("pyhost_broken", "", 16, "RuntimeError: broken at import"),
            ("pyhost_fixture", "no_init", 17, "pyhost_fixture has no no_init"),
            ("pyhost_fixture", "init_fails", 16, "RuntimeError: init refused ('x',)"),
        ]
        for module, init, code, text in cases:
            kind, payload = self.host.load(module, init=init, arguments=["x"])
            self.assertEqual(kind, LOAD_REFUSED, module)
            got_code, message = refusal(payload)
            self.assertEqual(got_code, code, message)
            self.assertIn(text, message)

    def test_eval_runs_in_main_with_its_arguments_as_argv(self):
        code = "import os, sys\nARGV = sys.argv[:]\ndef show(fd):\n    os.write(int(fd), repr(ARGV).encode())\n"
        kind, payload = self.host.eval(code, ["x", "y"])
        self.assertEqual(kind, LOADED, payload)
        r, w = self.pipe()
        pid, _ = self.call("__main__:show", ["5"], fds=[(w, 5)])
        self.release(w)
        self.assertEqual(read_all(r), b"['-c', 'x', 'y']")
        kind, payload = self.host.eval("def (")
        self.assertEqual(kind, LOAD_REFUSED)
        self.assertIn("SyntaxError", refusal(payload)[1])

    def test_a_module_that_starts_a_thread_makes_the_host_refuse_to_fork(self):
        self.assertEqual(self.loaded("pyhost_threads"), ["forkctl/object", "ticker"])
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.host.control.send(FORK, struct.pack("<Q", 2), [theirs.fileno()])
        theirs.close()
        code, message = refusal(self.host.control.expect(REFUSED)[0])
        self.assertEqual(code, 5)
        self.assertRegex(message, r"^process \d+ has 2 threads \(forkctl/object, ticker\); forking it is unsafe$")
        self.assertTrue(Channel(ours).at_end())  # the child's control socket was closed, unused

    def test_gc_freeze_keeps_a_collecting_workers_private_memory_small(self):
        # 600,000 tuples of an int, a str and a list, about 100 MB: without gc.freeze the
        # worker's collection writes to every one of their pages (about 80 MB private).
        self.loaded("pyhost_bigdata")
        self.loaded()
        r, w = self.pipe()
        pid, _ = self.call("pyhost_fixture:private_dirty_after_collection", ["5"], fds=[(w, 5)])
        self.release(w)
        private_kb = int(read_all(r))
        self.assertLess(private_kb, 10 * 1024, "a collecting worker wrote %d kB of the template's memory" % private_kb)


class ProcessTests(HostTest):
    def test_host_child_carries_a_pidfd_of_the_worker(self):
        worker, pid, pidfd = self.host.fork()
        self.addCleanup(os.close, pidfd)
        with open("/proc/self/fdinfo/%d" % pidfd) as f:
            self.assertIn("Pid:\t%d\n" % pid, f.read())
        signal.pidfd_send_signal(pidfd, 0)
        self.assertEqual(select.select([pidfd], [], [], 0)[0], [])  # running
        worker.sock.close()  # end of file: the process object exits 0
        self.assertEqual(select.select([pidfd], [], [], TIMEOUT)[0], [pidfd])
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))

    def test_a_forked_process_object_forks_and_reports_its_own_children(self):
        worker, pid, pidfd = self.host.fork()
        os.close(pidfd)
        grandchild, grandchild_pid, pidfd = self.host.fork(3, channel=worker)
        os.close(pidfd)
        grandchild.sock.close()
        self.assertEqual(self.host.child_ended(grandchild_pid, channel=worker), (EXITED, 0))

    def test_a_worker_whose_host_was_killed_is_reaped_by_the_subreaper_with_its_status(self):
        self.loaded()
        hold_r, hold_w = self.pipe()
        pid, _ = self.call("pyhost_fixture:hold", [str(9), "5"], fds=[(hold_r, 9)])
        self.release(hold_r)
        os.kill(self.host.pid, signal.SIGKILL)
        os.waitpid(self.host.pid, 0)
        self.release(hold_w)
        deadline = time.monotonic() + TIMEOUT
        while True:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                break
            self.assertLess(time.monotonic(), deadline, "the orphaned worker never came back")
            time.sleep(0.01)
        self.assertEqual(os.waitstatus_to_exitcode(status), 5)

    def test_imports_after_the_fork_are_listed_in_the_forkctl_imports_memfd(self):
        self.loaded()
        out_r, out_w = self.pipe()
        hold_r, hold_w = self.pipe()
        pid, _ = self.call("pyhost_fixture:import_late", ["5", "6"], fds=[(out_w, 5), (hold_r, 6)])
        self.release(out_w)
        self.release(hold_r)
        self.assertEqual(os.read(out_r, 100), b"imported")
        self.assertEqual(imports_of(pid), b"colorsys\n")
        self.assertIsNone(imports_of(self.host.pid))
        self.release(hold_w)
        self.assertEqual(self.host.child_ended(pid), (EXITED, 0))

    def test_a_protocol_violation_ends_the_host_with_70(self):
        self.host.control.send(0x83, u32(1 << 20) + string("x") + strings([]))
        _, status = os.waitpid(self.host.pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 70)

    def test_end_of_file_ends_the_host_with_0(self):
        self.host.control.sock.shutdown(socket.SHUT_WR)
        _, status = os.waitpid(self.host.pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)


def imports_of(pid):
    """The contents of pid's forkctl-imports memfd, found as the daemon finds it; None without one."""
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except OSError:
            continue
        if link == "/memfd:forkctl-imports (deleted)":
            with open("/proc/%d/fd/%s" % (pid, name), "rb") as f:
                return f.read()
    return None


if __name__ == "__main__":
    become_subreaper()
    unittest.main()
