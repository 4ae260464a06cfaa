#!/usr/bin/env python3
"""The Perl host (Hosts/perl/forkctl_host.pl) against a fake daemon: this test starts the host
as the daemon does (its control socket on 3, the script on 4, argv [perl, /proc/self/fd/4, ID])
and speaks the daemon's side of forkctl-protocol(7) to it. Standard library only; run with
`python3 Tests/Fixtures/hosts/test_perl_host.py` (Scripts/test does). The test process is a
subreaper, as the daemon is, so that a worker whose host was killed comes to it.
"""

import ctypes
import os
import select
import signal
import socket
import struct
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SCRIPT = os.path.join(ROOT, "Hosts", "perl", "forkctl_host.pl")
LIB = os.path.join(HERE, "perl-lib")
PERL = "/usr/bin/perl"

# Frame types (Man/forkctl-protocol.7).
FORK, FDS, ARGS, RUN, SPAWN, LOAD, EVAL = 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86
FORKED, REFUSED, EXEC_FAILED, SPAWNED, SPAWNING = 0xC0, 0xC1, 0xC2, 0xC3, 0xC4
LOADED, LOAD_REFUSED, HOST_CHILD, CHILD_ENDED, HOST_READY = 0xC5, 0xC6, 0xC7, 0xC8, 0xC9
KEEP_CONTROL, DIRECTORY, ENVIRONMENT, STATUS_PIPE, ATTRIBUTES, CALL, QUICK_EXIT = 1, 2, 4, 16, 32, 128, 256
EXITED, SIGNALED = 1, 2


def string(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack("<I", len(b)) + b


def strings(items):
    return struct.pack("<I", len(items)) + b"".join(string(s) for s in items)


def targets(ts):
    return struct.pack("<I", len(ts)) + b"".join(struct.pack("<i", -1 if t is None else t) for t in ts)


def run_spec(program, arguments=(), flags=0, environment=None):
    if environment is not None:
        flags |= ENVIRONMENT
    out = struct.pack("<I", flags) + string(program) + strings(list(arguments))
    if environment is not None:
        out += strings(environment)
    return out


def attributes(umask=0o022, nice=0, ignored=0, blocked=0, limits=(), flags=0):
    out = struct.pack("<IiQQI", umask, nice, ignored, blocked, len(limits))
    for resource, soft, hard in limits:
        out += struct.pack("<IQQ", resource, soft, hard)
    return out + struct.pack("<I", flags) + b"\0" * 40


class Channel:
    """One end of a control socket, read by the rules of DESCRIPTORS: never past a frame."""

    def __init__(self, sock):
        self.sock = sock

    def send(self, kind, payload=b"", fds=()):
        frame = struct.pack("<BBHI", 1, kind, len(fds), len(payload)) + payload
        if fds:
            socket.send_fds(self.sock, [frame], list(fds))
        else:
            self.sock.sendall(frame)

    def _read(self, n, fds):
        data = b""
        while len(data) < n:
            chunk, got, _, _ = socket.recv_fds(self.sock, n - len(data), 64)
            fds += got
            if not chunk:
                return None
            data += chunk
        return data

    def receive(self, timeout=20):
        """(type, payload, fds), or None at end of file."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise AssertionError("no frame from the host in %s s" % timeout)
        fds = []
        header = self._read(8, fds)
        if header is None:
            return None
        version, kind, count, length = struct.unpack("<BBHI", header)
        assert version == 1
        payload = self._read(length, fds) if length else b""
        assert len(fds) == count, (kind, count, fds)
        return kind, payload, fds


def pipe():
    r, w = os.pipe2(os.O_CLOEXEC)
    return r, w


def _inheritable(fd):
    try:
        return os.get_inheritable(fd)
    except OSError:
        return False


def read_all(fd):
    out = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            os.close(fd)
            return out
        out += chunk


class Host:
    """A Perl host started as the daemon starts one."""

    def __init__(self, environment=None):
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.channel = Channel(self.sock)
        script = os.memfd_create("forkctl-host-perl", os.MFD_CLOEXEC)
        with open(SCRIPT, "rb") as f:
            os.write(script, f.read())
        self.stderr_r, stderr_w = pipe()
        env = {"PATH": "/usr/bin:/bin", "PERL5LIB": LIB}
        env.update(environment or {})
        # The daemon's host gets nothing else: whatever this process inherited without
        # close-on-exec is closed in the child.
        inherited = [int(n) for n in os.listdir("/proc/self/fd") if int(n) > 2 and int(n) not in (script, stderr_w)]
        inherited = [fd for fd in inherited if fd != theirs.fileno() and _inheritable(fd)]
        self.pid = os.posix_spawn(
            PERL,
            [PERL, "/proc/self/fd/4", "7"],
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                (os.POSIX_SPAWN_DUP2, stderr_w, 2),
                (os.POSIX_SPAWN_DUP2, theirs.fileno(), 3),
                (os.POSIX_SPAWN_DUP2, script, 4),
            ]
            + [(os.POSIX_SPAWN_CLOSE, fd) for fd in inherited if fd > 4],
            setpgroup=0,
        )
        theirs.close()
        os.close(script)
        os.close(stderr_w)
        self.status = None
        # A host's first report, once it serves: what the daemon answers exec with.
        payload, fds = self.expect(HOST_READY)
        assert payload == b"" and not fds, (payload, fds)

    def close(self):
        if self.sock.fileno() >= 0:
            self.sock.close()
        if self.status is None:
            self.status = os.waitpid(self.pid, 0)[1]
        self.stderr = read_all(self.stderr_r)

    def send(self, kind, payload=b"", fds=()):
        self.channel.send(kind, payload, fds)

    def expect(self, kind):
        frame = self.channel.receive()
        assert frame is not None, "end of file where 0x%x was due" % kind
        if frame[0] != kind:
            raise AssertionError("expected 0x%x, got 0x%x %r" % (kind, frame[0], frame[1]))
        return frame[1], frame[2]

    def load(self, module, init=b"", arguments=(), directory=None):
        flags = DIRECTORY if directory is not None else 0
        payload = struct.pack("<I", flags) + string(module) + string(init) + strings(list(arguments))
        self.send(LOAD, payload, [directory] if directory is not None else [])
        frame = self.channel.receive()
        return frame[0], frame[1]

    def eval(self, code, arguments=()):
        self.send(EVAL, struct.pack("<I", 0) + string(code) + strings(list(arguments)))
        frame = self.channel.receive()
        return frame[0], frame[1]

    def fork(self):
        """Forks a worker: (Worker, pidfd), after hostChild and forked, in that order."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.send(FORK, struct.pack("<Q", 9), [theirs.fileno()])
        theirs.close()
        payload, fds = self.expect(HOST_CHILD)
        (pid,) = struct.unpack("<i", payload)
        assert len(fds) == 1
        forked, _ = self.expect(FORKED)
        assert struct.unpack("<i", forked)[0] == pid
        worker = Worker(mine, pid)
        kind, announced, _ = worker.channel.receive()  # the worker's first frame: spawning(pid)
        assert kind == SPAWNING and struct.unpack("<i", announced)[0] == pid, (kind, announced)
        return worker, fds[0]

    def child_ended(self):
        payload, _ = self.expect(CHILD_ENDED)
        pid, tag, value = struct.unpack("<iBi", payload)
        return pid, tag, value


class Worker:
    def __init__(self, sock, pid):
        self.sock = sock
        self.channel = Channel(sock)
        self.pid = pid

    def send_fds(self, fds, where):
        self.channel.send(FDS, targets(where), fds)

    def send_args(self, items):
        self.channel.send(ARGS, strings(items))

    def run(self, program, arguments=(), flags=0, environment=None, attrs=None, fds=()):
        if attrs is not None:
            flags |= ATTRIBUTES
        payload = run_spec(program, arguments, flags, environment) + (attrs or b"")
        self.channel.send(RUN, payload, fds)

    def started(self):
        """None when the program started (end of file), else the failure of its execFailed."""
        frame = self.channel.receive()
        if frame is None:
            return None
        assert frame[0] == EXEC_FAILED, frame
        return struct.unpack("<i", frame[1])[0]


def setUpModule():
    # As the daemon: orphans come here (PR_SET_CHILD_SUBREAPER, prctl(2)).
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(36, 1, 0, 0, 0) == 0


class PerlHostTests(unittest.TestCase):
    def setUp(self):
        self.host = Host()
        kind, payload = self.host.load("ForkctlPerlTest", "init", ["alpha", "beta"])
        self.assertEqual(kind, LOADED, payload)

    def tearDown(self):
        self.host.close()
        # Nothing of the host's own (a warning, a die) reached its stderr.
        self.assertEqual(self.host.stderr, b"")

    def call(self, function, arguments=(), flags=0, attrs=None, stdin=None, sent_args=(), extra_fds=(),
             environment=("PATH=/usr/bin:/bin",)):
        """Forks a worker that calls `function` with descriptor 1 and 2 on pipes: (status, out, err)."""
        worker, pidfd = self.host.fork()
        out_r, out_w = pipe()
        err_r, err_w = pipe()
        fds, where = [out_w, err_w], [1, 2]
        if stdin is not None:
            fds.append(stdin)
            where.append(0)
        for fd, target in extra_fds:
            fds.append(fd)
            where.append(target)
        worker.send_fds(fds, where)
        os.close(out_w)
        os.close(err_w)
        if sent_args:
            worker.send_args(list(sent_args))
        environment = None if environment is None else list(environment)
        worker.run(function, arguments, flags | CALL, environment=environment, attrs=attrs)
        started = worker.started()
        pid, tag, value = self.host.child_ended()
        self.assertEqual(pid, worker.pid)
        os.close(pidfd)
        worker.sock.close()
        return started, (tag, value), read_all(out_r).decode(), read_all(err_r).decode()

    def start_held(self, function, arguments=()):
        """A worker calling `function`, which reads descriptor 0 (a pipe held here) while it
        waits: (worker, pidfd, the pipe's read end, its write end)."""
        hold_r, hold_w = pipe()
        worker, pidfd = self.host.fork()
        worker.send_fds([hold_r], [0])
        worker.run(function, list(arguments), CALL)
        self.assertIsNone(worker.started())
        return worker, pidfd, hold_r, hold_w

    def test_host_starts_as_the_design_says(self):
        pid = self.host.pid
        with open("/proc/%d/comm" % pid) as f:
            self.assertEqual(f.read().strip(), "forkctl/object")
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            self.assertTrue(f.read().startswith(b"forkctl: template 7"))
        fds = sorted(int(n) for n in os.listdir("/proc/%d/fd" % pid))
        self.assertEqual(fds, [0, 1, 2, 3])  # the script's descriptor 4 is closed
        # A worker run without an environment gets the host's: the thread variables set to 1.
        kind, _ = self.host.eval('sub print_env { print "$_=", $ENV{$_} // "unset", "\\n" for @_; 0 }')
        self.assertEqual(kind, LOADED)
        names = ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                 "VECLIB_MAXIMUM_THREADS", "PERL5LIB"]
        _, status, out, err = self.call("print_env", names, environment=None)
        self.assertEqual(status, (EXITED, 0), err)
        self.assertEqual(out, "".join("%s=1\n" % n for n in names[:-1]) + "PERL5LIB=%s\n" % LIB)

    def test_a_set_thread_variable_is_kept(self):
        self.host.close()
        self.host = Host({"OMP_NUM_THREADS": "4"})
        kind, _ = self.host.eval('sub print_env { print "$ENV{OMP_NUM_THREADS}\\n"; 0 }')
        self.assertEqual(kind, LOADED)
        self.assertEqual(self.call("print_env", environment=None)[2], "4\n")

    def test_call_gets_descriptors_strings_and_init_arguments(self):
        started, status, out, err = self.call("ForkctlPerlTest::echo", ["three", "four"], sent_args=["one", "two"])
        self.assertIsNone(started)
        self.assertEqual(status, (EXITED, 0), err)
        self.assertEqual(out, "arg:one\narg:two\narg:three\narg:four\ninit:alpha\ninit:beta\n")

    def test_call_reads_a_descriptor_placed_at_a_fixed_number(self):
        data_r, data_w = pipe()
        os.write(data_w, b"through descriptor 7\n")
        os.close(data_w)
        started, status, out, err = self.call("ForkctlPerlTest::copy_from", ["7"], extra_fds=[(data_r, 7)])
        os.close(data_r)
        self.assertEqual(status, (EXITED, 0), err)
        self.assertEqual(out, "through descriptor 7\n")

    def test_exit_statuses(self):
        self.assertEqual(self.call("ForkctlPerlTest::returns", ["7"])[1], (EXITED, 7))
        self.assertEqual(self.call("ForkctlPerlTest::returns", ["300"])[1], (EXITED, 300 & 0xFF))
        self.assertEqual(self.call("ForkctlPerlTest::returns", ["-1"])[1], (EXITED, 255))
        self.assertEqual(self.call("ForkctlPerlTest::returns", ["not a number"])[1], (EXITED, 0))
        self.assertEqual(self.call("ForkctlPerlTest::returns_nothing")[1], (EXITED, 0))
        self.assertEqual(self.call("ForkctlPerlTest::exits", ["5"])[1], (EXITED, 5))
        _, status, _, err = self.call("ForkctlPerlTest::dies")
        self.assertEqual(status, (EXITED, 1))
        self.assertEqual(err, "worker failed on purpose\n")

    def test_worker_runs_its_own_end_blocks_not_the_templates(self):
        kind, _ = self.host.eval("$ForkctlPerlTest::announce_end = 1")
        self.assertEqual(kind, LOADED)
        _, status, out, _ = self.call("ForkctlPerlTest::with_end_block")
        self.assertEqual(status, (EXITED, 3))
        self.assertEqual(out, "worker END\n")
        # The quick-exit flag: no END block at all.
        _, status, out, _ = self.call("ForkctlPerlTest::with_end_block", flags=QUICK_EXIT)
        self.assertEqual((status, out), ((EXITED, 3), ""))

    def test_missing_function_fails_the_run_as_a_missing_symbol(self):
        started, status, _, _ = self.call("ForkctlPerlTest::no_such_function")
        self.assertEqual(started, (8 << 16) | 2)  # step 8 (the function), ENOENT
        self.assertEqual(status, (EXITED, 127))

    def test_every_child_is_announced_and_its_end_reported(self):
        workers = []
        for _ in range(3):
            worker, pidfd = self.host.fork()
            workers.append((worker, pidfd))
        for n, (worker, _) in enumerate(workers):
            worker.run("ForkctlPerlTest::returns", [str(10 + n)], CALL, environment=["PATH=/bin"])
            self.assertIsNone(worker.started())
        ended = {}
        for _ in workers:
            pid, tag, value = self.host.child_ended()
            ended[pid] = (tag, value)
        self.assertEqual(ended, {w.pid: (EXITED, 10 + n) for n, (w, _) in enumerate(workers)})
        for worker, pidfd in workers:
            os.close(pidfd)
            worker.sock.close()

    def test_host_child_pidfd_signals_and_sees_the_worker(self):
        worker, pidfd, hold_r, hold_w = self.start_held("ForkctlPerlTest::wait_then_return")
        self.assertEqual(select.select([pidfd], [], [], 0)[0], [])
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        self.assertEqual(self.host.child_ended(), (worker.pid, SIGNALED, signal.SIGKILL))
        self.assertEqual(select.select([pidfd], [], [], 5)[0], [pidfd])
        for fd in (pidfd, hold_r, hold_w):
            os.close(fd)
        worker.sock.close()

    def test_status_is_known_when_the_host_is_killed_while_a_worker_runs(self):
        worker, pidfd, hold_r, hold_w = self.start_held("ForkctlPerlTest::wait_then_return", ["42"])
        os.close(hold_r)
        os.kill(self.host.pid, signal.SIGKILL)
        self.host.status = os.waitpid(self.host.pid, 0)[1]
        # The orphan comes to this process, the subreaper, which reaps it with its exact status.
        deadline = time.time() + 5
        while time.time() < deadline:
            with open("/proc/%d/stat" % worker.pid) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    break
            time.sleep(0.01)
        os.write(hold_w, b"x")
        os.close(hold_w)
        _, status = os.waitpid(worker.pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 42)
        os.close(pidfd)
        worker.sock.close()

    def test_fork_is_refused_while_a_module_runs_a_thread(self):
        kind, payload = self.host.load("ForkctlPerlThreads")
        self.assertEqual(kind, LOADED)
        count = struct.unpack_from("<I", payload)[0]
        self.assertEqual(count, 2)
        mine, theirs = socket.socketpair()
        self.host.send(FORK, struct.pack("<Q", 9), [theirs.fileno()])
        theirs.close()
        payload, _ = self.host.expect(REFUSED)
        code, length = struct.unpack_from("<HI", payload)
        message = payload[6:].decode()
        self.assertEqual(code, 5)
        self.assertRegex(message, r"^process %d has 2 threads \(forkctl/object, .*\); forking it is unsafe$"
                         % self.host.pid)
        mine.close()

    def test_modules_required_after_the_fork_are_recorded(self):
        worker, pidfd, hold_r, hold_w = self.start_held("ForkctlPerlTest::require_late_and_wait")
        # Both requires come before the worker waits; the first may be read before the second.
        expected = "Text::Abbrev\nForkctlPerlTest::Late\n"
        records = None
        deadline = time.time() + 5
        while records != expected and time.time() < deadline:
            for fd in os.listdir("/proc/%d/fd" % worker.pid):
                try:
                    link = os.readlink("/proc/%d/fd/%s" % (worker.pid, fd))
                except FileNotFoundError:
                    continue
                if link == "/memfd:forkctl-imports (deleted)":
                    with open("/proc/%d/fd/%s" % (worker.pid, fd), "rb") as f:
                        records = f.read().decode()
            time.sleep(0.01)
        self.assertEqual(records, expected)
        os.write(hold_w, b"x")
        self.assertEqual(self.host.child_ended(), (worker.pid, EXITED, 0))
        for fd in (pidfd, hold_r, hold_w):
            os.close(fd)
        worker.sock.close()

    def test_template_records_nothing_it_requires(self):
        kind, _ = self.host.load("Text::Wrap")
        self.assertEqual(kind, LOADED)
        fd_dir = "/proc/%d/fd" % self.host.pid
        links = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
        self.assertFalse([link for link in links if "forkctl-imports" in link])

    def test_eval_defines_a_function_with_its_arguments_in_argv(self):
        kind, _ = self.host.eval('our @saved = @ARGV; sub greet { print "hello @saved @_\\n"; 0 }', ["from", "eval"])
        self.assertEqual(kind, LOADED)
        _, status, out, err = self.call("greet", ["there"])
        self.assertEqual(status, (EXITED, 0), err)
        self.assertEqual(out, "hello from eval there\n")

    def test_eval_that_dies_is_refused_with_its_message(self):
        kind, payload = self.host.eval('die "no good\\n"')
        self.assertEqual(kind, LOAD_REFUSED)
        code, _ = struct.unpack_from("<HI", payload)
        self.assertEqual((code, payload[6:]), (16, b"no good"))
        kind, payload = self.host.eval("this is not perl (")
        self.assertEqual(kind, LOAD_REFUSED)
        self.assertIn(b"syntax error", payload)

    def test_load_errors(self):
        kind, payload = self.host.load("No::Such::Module")
        self.assertEqual((kind, struct.unpack_from("<H", payload)[0]), (LOAD_REFUSED, 16))
        self.assertIn(b"Can't locate No/Such/Module.pm", payload)
        kind, payload = self.host.load("ForkctlPerlTest", "no_such_init")
        self.assertEqual((kind, struct.unpack_from("<H", payload)[0]), (LOAD_REFUSED, 17))
        self.assertIn(b"ForkctlPerlTest does not define no_such_init", payload)
        kind, payload = self.host.load("ForkctlPerlTest", "broken_init")
        self.assertEqual((kind, payload[6:]), (LOAD_REFUSED, b"the init refuses"))
        # The module stays loaded, and the host serves on.
        self.assertEqual(self.call("ForkctlPerlTest::returns", ["4"])[1], (EXITED, 4))

    def test_load_of_a_file_relative_to_the_callers_directory(self):
        directory = os.open(LIB, os.O_PATH | os.O_CLOEXEC)
        kind, payload = self.host.load("./ForkctlPerlTest/Late.pm", directory=directory)
        self.assertEqual(kind, LOADED, payload)
        os.close(directory)
        # A relative path without ./ is the caller's too, not one searched in @INC.
        with tempfile.TemporaryDirectory() as elsewhere:
            with open(os.path.join(elsewhere, "here.pl"), "w") as f:
                f.write("$main::loaded_from_here = 1;\n")
            directory = os.open(elsewhere, os.O_PATH | os.O_CLOEXEC)
            kind, payload = self.host.load("here.pl", directory=directory)
            os.close(directory)
        self.assertEqual(kind, LOADED, payload)
        self.assertEqual(self.host.eval("die 'not loaded' unless $main::loaded_from_here")[0], LOADED)

    def test_run_executes_a_program_with_its_descriptors(self):
        worker, pidfd = self.host.fork()
        out_r, out_w = pipe()
        worker.send_fds([out_w], [1])
        os.close(out_w)
        worker.send_args(["-c", 'echo "$0 $1 $FOO"'])
        worker.run("sh", ["one"], environment=["PATH=/usr/bin:/bin", "FOO=bar"])
        self.assertIsNone(worker.started())
        self.assertEqual(self.host.child_ended(), (worker.pid, EXITED, 0))
        self.assertEqual(read_all(out_r), b"one  bar\n")  # sh -c SCRIPT one: $0 is "one"
        os.close(pidfd)
        worker.sock.close()

    def test_run_of_a_missing_program_fails_with_enoent_and_127(self):
        worker, pidfd = self.host.fork()
        worker.run("no-such-program-forkctl", [], environment=["PATH=/usr/bin:/bin"])
        self.assertEqual(worker.started(), 2)
        self.assertEqual(self.host.child_ended(), (worker.pid, EXITED, 127))
        os.close(pidfd)
        worker.sock.close()

    def test_run_that_keeps_control_reports_through_its_status_pipe(self):
        worker, pidfd = self.host.fork()
        out_r, out_w = pipe()
        worker.send_fds([out_w], [1])
        os.close(out_w)
        status_r, status_w = pipe()
        worker.run("sh", ["-c", 'echo "control=$FORKCTL_CONTROL_FD"; test -S /proc/self/fd/3'],
                   KEEP_CONTROL | STATUS_PIPE, environment=["PATH=/usr/bin:/bin"], fds=[status_w])
        os.close(status_w)
        self.assertEqual(read_all(status_r), b"")  # end of file: the program started
        self.assertEqual(self.host.child_ended(), (worker.pid, EXITED, 0))
        self.assertEqual(read_all(out_r), b"control=3\n")
        worker.sock.close()
        os.close(pidfd)
        # A program that does not start says why in the pipe, as four bytes, not in a report.
        worker, pidfd = self.host.fork()
        status_r, status_w = pipe()
        worker.run("/no/such/program", [], KEEP_CONTROL | STATUS_PIPE, environment=[], fds=[status_w])
        os.close(status_w)
        self.assertEqual(read_all(status_r), struct.pack("<i", 2))
        self.assertEqual(self.host.child_ended(), (worker.pid, EXITED, 127))
        worker.sock.close()
        os.close(pidfd)

    def test_run_in_a_working_directory_and_of_a_directory(self):
        worker, pidfd = self.host.fork()
        out_r, out_w = pipe()
        worker.send_fds([out_w], [1])
        os.close(out_w)
        directory = os.open("/usr", os.O_PATH | os.O_CLOEXEC)
        worker.run("pwd", [], DIRECTORY, environment=["PATH=/usr/bin:/bin"], fds=[directory])
        os.close(directory)
        self.assertIsNone(worker.started())
        self.assertEqual(self.host.child_ended(), (worker.pid, EXITED, 0))
        self.assertEqual(read_all(out_r), b"/usr\n")
        worker.sock.close()
        os.close(pidfd)
        worker, pidfd = self.host.fork()
        worker.run("/usr", [], environment=[])
        self.assertEqual(worker.started(), 21)  # EISDIR, as the native template says it
        self.assertEqual(self.host.child_ended(), (worker.pid, EXITED, 126))
        worker.sock.close()
        os.close(pidfd)

    def test_call_applies_attributes_and_keeps_control(self):
        usr1, usr2 = 1 << (signal.SIGUSR1 - 1), 1 << (signal.SIGUSR2 - 1)
        attrs = attributes(umask=0o027, nice=5, ignored=usr1, blocked=usr2, limits=[(7, 64, 64)])
        started, status, out, err = self.call("ForkctlPerlTest::describe", flags=KEEP_CONTROL, attrs=attrs)
        self.assertEqual(status, (EXITED, 0), err)
        lines = dict(line.split("=", 1) for line in out.replace(" pid=", "\npid=").splitlines())
        self.assertEqual(lines["umask"], "0027")
        self.assertEqual(lines["nofile"], "64")
        self.assertEqual(lines["pgid"], lines["pid"])
        self.assertEqual(lines["comm"], "ForkctlPerlTest")  # PR_SET_NAME keeps 15 bytes
        self.assertEqual(lines["control"], "3")
        self.assertEqual(lines["nice"], "5")
        self.assertEqual(int(lines["SigIgn"], 16), usr1)
        self.assertEqual(int(lines["SigBlk"], 16), usr2)

    def test_spawn_of_a_call_and_of_a_program(self):
        out_r, out_w = pipe()
        payload = struct.pack("<Q", 11) + targets([1]) + run_spec(
            "ForkctlPerlTest::echo", ["spawned"], CALL, ["PATH=/bin"])
        self.host.send(SPAWN, payload, [out_w])
        os.close(out_w)
        announced, _ = self.host.expect(SPAWNING)
        (pid,) = struct.unpack("<i", announced)
        _, fds = self.host.expect(HOST_CHILD)
        spawned, _ = self.host.expect(SPAWNED)
        self.assertEqual(struct.unpack("<ii", spawned), (pid, 0))
        self.assertEqual(self.host.child_ended(), (pid, EXITED, 0))
        self.assertEqual(read_all(out_r), b"arg:spawned\ninit:alpha\ninit:beta\n")
        os.close(fds[0])
        payload = struct.pack("<Q", 12) + targets([]) + run_spec("no-such-program-forkctl", [], 0, ["PATH=/bin"])
        self.host.send(SPAWN, payload)
        (pid,) = struct.unpack("<i", self.host.expect(SPAWNING)[0])
        _, fds = self.host.expect(HOST_CHILD)
        self.assertEqual(struct.unpack("<ii", self.host.expect(SPAWNED)[0]), (pid, 2))
        self.assertEqual(self.host.child_ended(), (pid, EXITED, 127))
        os.close(fds[0])
        self.host.send(SPAWN, struct.pack("<Q", 13) + targets([]) + run_spec("Nope::nothing", [], CALL))
        payload, _ = self.host.expect(REFUSED)
        self.assertEqual(struct.unpack_from("<H", payload)[0], 17)

    def test_spawn_with_a_terminal_runs_the_call_under_a_monitor(self):
        # Attribute flag 2: a new session with the terminal on 0 as its controlling terminal; the
        # session's leader stays as a monitor and the function runs in its child, in the
        # terminal's foreground (monitor.c).
        primary, secondary = os.openpty()
        out_r, out_w = pipe()
        payload = struct.pack("<Q", 14) + targets([0, 1]) + run_spec(
            "ForkctlPerlTest::terminal", [], CALL | ATTRIBUTES, ["PATH=/bin"]) + attributes(flags=2)
        self.host.send(SPAWN, payload, [secondary, out_w])
        os.close(out_w)
        os.close(secondary)
        (pid,) = struct.unpack("<i", self.host.expect(SPAWNING)[0])
        _, fds = self.host.expect(HOST_CHILD)
        self.assertEqual(struct.unpack("<ii", self.host.expect(SPAWNED)[0]), (pid, 0))
        self.assertEqual(self.host.child_ended(), (pid, EXITED, 0))
        self.assertRegex(read_all(out_r).decode(), r"^tty=/dev/pts/\d+ foreground=1 monitor=1\n$")
        os.close(fds[0])
        os.close(primary)

    def test_helper_package_outside_a_pool(self):
        kind, payload = self.host.eval(
            "die 'control' if defined Forkctl::Host::control_fd(); die 'notify' if Forkctl::Host::notify('READY=1');"
            "use Forkctl::Host; 1")
        self.assertEqual(kind, LOADED, payload)

    def test_notify_sends_one_datagram(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        kind, _ = self.host.eval("sub notify_ready { Forkctl::Host::notify('READY=1') ? 0 : 9 }")
        self.assertEqual(kind, LOADED)
        worker, pidfd = self.host.fork()
        worker.send_fds([theirs.fileno()], [5])
        theirs.close()
        worker.run("notify_ready", [], CALL, environment=["FORKCTL_NOTIFY_FD=5"])
        self.assertIsNone(worker.started())
        self.assertEqual(self.host.child_ended(), (worker.pid, EXITED, 0))
        self.assertEqual(mine.recv(100), b"READY=1")
        os.close(pidfd)
        mine.close()
        worker.sock.close()

    def test_end_of_file_ends_the_host_with_0_and_a_violation_with_70(self):
        self.host.sock.close()
        self.assertEqual(os.waitstatus_to_exitcode(os.waitpid(self.host.pid, 0)[1]), 0)
        self.host.status = 0
        other = Host()
        other.send(0x7F, b"")
        self.assertEqual(os.waitstatus_to_exitcode(os.waitpid(other.pid, 0)[1]), 70)
        other.status = 0
        other.close()


if __name__ == "__main__":
    unittest.main()
