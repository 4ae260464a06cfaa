"""forkctl's Python host: a template that is a Python interpreter (forkctl exec --python).

The daemon starts it as `INTERPRETER /proc/self/fd/4 ID`, with the control socket on
descriptor 3, this script on 4, /dev/null on 0 and 1 and the daemon's stderr on 2. It speaks
the template side of forkctl-protocol(7) (WRITING A HOST) as the native template
(Sources/ForkctlTemplate) does, with modules where that one has libraries: `load` imports a
module, `eval` runs code in __main__, and a call runs `module:function` in a worker forked
with os.fork, so that Python's and the C library's after-fork handling runs. A worker is
then this process's child, not the daemon's: every fork is announced (report hostChild, with
a pidfd opened before the worker could be reaped) and its end reported (childEnded) before
this process reaps it, so the daemon knows every status even if this process dies.

Standard library only, Python 3.9 or later. In a worker the same file is the module
`forkctl_host`: control_fd(), notify(text), worker_id(), pool() (forkctl(1)).
"""

import _signal
import array
import atexit
import builtins
import errno
import fcntl
import gc
import importlib
import linecache
import os
# Every spawn brings the caller's limits (forkctl(1), a drop-in's attributes), which resource
# sets: imported after the fork, its dlopen and module set-up cost each worker about 360 page
# faults (a worker's minflt, /proc/self/stat).
import resource
import select
import signal
import socket
import struct
import sys
import time
import traceback

# Frame types (forkctl-protocol(7)).
_COMMAND_FORK = 0x80
_COMMAND_FDS = 0x81
_COMMAND_ARGS = 0x82
_COMMAND_RUN = 0x83
_COMMAND_SPAWN = 0x84
_COMMAND_LOAD = 0x85
_COMMAND_EVAL = 0x86
_FORKED = 0xC0
_REFUSED = 0xC1
_EXEC_FAILED = 0xC2
_SPAWNED = 0xC3
_SPAWNING = 0xC4
_LOADED = 0xC5
_LOAD_REFUSED = 0xC6
_HOST_CHILD = 0xC7
_CHILD_ENDED = 0xC8
_HOST_READY = 0xC9

# Error codes of refused and load-refused reports.
_WRONG_STATE = 2
_TEMPLATE_FAILED = 5
_WORKING_DIRECTORY_FAILED = 14
_LOAD_FAILED = 16
_SYMBOL_NOT_FOUND = 17

# Run spec flags; 16 (status pipe) and 32 (attributes follow) belong to the message around it.
_KEEP_CONTROL = 1
_WORKING_DIRECTORY = 2
_ENVIRONMENT = 4
_WAIT = 8
_STATUS_PIPE = 16
_ATTRIBUTES = 32
_CALL = 128
_QUICK_EXIT = 256
_SPEC_FLAGS = _KEEP_CONTROL | _WORKING_DIRECTORY | _ENVIRONMENT | _WAIT | _CALL | _QUICK_EXIT
# Load flags: RTLD_GLOBAL (meaningless to a module, ignored) and the working directory.
_LOAD_GLOBAL = 1
_LOAD_WORKING_DIRECTORY = 2

# The failure word of a run that did not start: the step in the high 16 bits, the errno low.
_STEP_EXEC = 0
_STEP_WORKING_DIRECTORY = 1
_STEP_SESSION = 2
_STEP_CONTROLLING_TERMINAL = 3
_STEP_NICE = 4
_STEP_NO_NEW_PRIVS = 5
_STEP_CAPABILITIES = 6
_STEP_SIGNALS = 7
_STEP_SYMBOL = 8
_STEP_RLIMIT = 0x100

# Process attribute flags.
_ATTR_NO_NEW_PRIVS = 1
_ATTR_NEW_SESSION_TTY = 2
_ATTR_DROP_CAPABILITIES = 4

_CONTROL_FD = 3
_SCRIPT_FD = 4
_CONTROL_VARIABLE = b"FORKCTL_CONTROL_FD="
_PROCESS_NAME = b"forkctl/object"
_HEADER = struct.Struct("<BBHI")
_MAX_PAYLOAD = 4 << 20
_MAX_FDS = 64
_MAX_LIST = 1 << 16
_MAX_TARGET = 1023
_EXIT_VIOLATION = 70
_THREAD_GRACE = 0.1
_UNMASKABLE = (1 << (signal.SIGKILL - 1)) | (1 << (signal.SIGSTOP - 1))
# Signals the C library keeps for itself (nptl's SIGCANCEL and SIGSETXID): its sigaction and
# sigaddset refuse them, so they are set with the raw system calls (_Kernel).
_GLIBC_SIGNALS = (32, 33)
# Threads a numerical library starts when imported unless told otherwise: one each, so that a
# template that imports numpy can still fork (next-capabilities.md 2.4).
_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
)
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_FD_SIZE = array.array("i").itemsize
# The signals as plain numbers: the signal module's own functions make an enum member of each
# number they return, which costs a worker more than the system calls themselves.
# The built-in module _signal under it answers with numbers.
_SIGNALS = sorted(_signal.valid_signals())

_sock = None  # the control socket, a socket object over descriptor 3
_poller = None  # polls the control socket and the pidfd of every child announced
_children = {}  # pidfd -> pid of each child this process forked and has not reaped
_fds = []  # (descriptor, target or None) sent with fds commands, in order
_arguments = []  # strings sent with args commands
_object_id = 0  # this process object's id
_template_pid = 0  # imports in any other process are recorded (_PostForkImports)
_imports_fd = None  # the memfd forkctl-imports, once this process imported after its fork
_host_importing = False  # the host's own lazy imports in a worker are not the worker's
_kept_control = None  # the control socket's number in a worker that kept it
_main = None  # the module __main__ that eval and calls see


class _Violation(Exception):
    """A frame the protocol does not allow: the process exits 70, as the native one does."""


# The helper API of a worker (forkctl(1), Python host).


def control_fd():
    """The descriptor of the control socket in a worker run with --keep-control, else None."""
    return _kept_control


def notify(text):
    """Sends `text` (str or bytes) as one datagram on FORKCTL_NOTIFY_FD; nothing when unset."""
    fd = os.environ.get("FORKCTL_NOTIFY_FD")
    if not fd:
        return
    os.write(int(fd), text.encode() if isinstance(text, str) else text)


def worker_id():
    """This process object's id (in a pool, the worker's: FORKCTL_WORKER)."""
    return _object_id


def pool():
    """The name of the pool this worker belongs to (FORKCTL_POOL), or None."""
    return os.environ.get("FORKCTL_POOL")


# Frames.


class _Reader:
    """A payload read field by field; running past its end, or leaving bytes, is a violation."""

    __slots__ = ("data", "at")

    def __init__(self, data):
        self.data = data
        self.at = 0

    def _field(self, s):
        if self.at + s.size > len(self.data):
            raise _Violation("payload ends in the middle of a field")
        (v,) = s.unpack_from(self.data, self.at)
        self.at += s.size
        return v

    def u8(self):
        return self._field(_U8)

    def u32(self):
        return self._field(_U32)

    def i32(self):
        return self._field(_I32)

    def u64(self):
        return self._field(_U64)

    def string(self):
        n = self.u32()
        if self.at + n > len(self.data):
            raise _Violation("string runs past the payload")
        s = bytes(self.data[self.at : self.at + n])
        self.at += n
        return s

    def list(self):
        n = self.u32()
        if n > _MAX_LIST or n * 4 > len(self.data) - self.at:
            raise _Violation("list of %d strings" % n)
        return [self.string() for _ in range(n)]

    def finish(self):
        if self.at != len(self.data):
            raise _Violation("payload has %d bytes after its last field" % (len(self.data) - self.at))


def _frame(kind, payload=b"", fds=0):
    return _HEADER.pack(1, kind, fds, len(payload)) + payload


def _string(s):
    return _U32.pack(len(s)) + s


def _list(strings):
    return _U32.pack(len(strings)) + b"".join(_string(s) for s in strings)


def _send(data, fds=()):
    """Sends one frame, its descriptors with its first bytes (forkctl-protocol(7), DESCRIPTORS)."""
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sent = _sock.sendmsg([data], anc)
    while sent < len(data):
        sent += _sock.send(data[sent:])


def _report(data, fds=()):
    # The daemon is the only peer; if it is gone, the next receive sees end of file.
    try:
        _send(data, fds)
    except OSError:
        pass


def _refused(code, message):
    _report(_frame(_REFUSED, _U16.pack(code) + _string(message.encode())))


def _load_refused(code, message):
    _report(_frame(_LOAD_REFUSED, _U16.pack(code) + _string(message.encode(errors="replace"))))


def _close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _read(want, received):
    """Exactly `want` bytes, never more, with the descriptors that came with them; None at end of file."""
    chunks = []
    while want:
        data, anc, flags, _ = _sock.recvmsg(want, socket.CMSG_SPACE(_MAX_FDS * _FD_SIZE), socket.MSG_CMSG_CLOEXEC)
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(payload[: len(payload) - len(payload) % _FD_SIZE])
                received.extend(fds)
        if flags & socket.MSG_CTRUNC:
            raise _Violation("more descriptors than a frame may carry")
        if not data:
            return None
        chunks.append(data)
        want -= len(data)
    return b"".join(chunks)


def _receive():
    """The next frame as (type, payload, descriptors); None at end of file."""
    received = []
    try:
        header = _read(_HEADER.size, received)
        if header is None:
            _close_all(received)
            return None
        version, kind, nfds, size = _HEADER.unpack(header)
        if version != 1 or nfds > _MAX_FDS or size > _MAX_PAYLOAD:
            raise _Violation("frame header")
        payload = _read(size, received) if size else b""
        if payload is None:
            _close_all(received)
            return None
        if len(received) != nfds:
            raise _Violation("descriptor count")
    except _Violation:
        _close_all(received)
        raise
    return kind, payload, received


def _check_fds(received, n):
    if len(received) != n:
        raise _Violation("%d descriptors where %d were expected" % (len(received), n))


def _targets(r):
    n = r.u32()
    if n * 4 > len(r.data) - r.at:
        raise _Violation("target count")
    out = []
    for _ in range(n):
        t = r.i32()
        if t < -1 or t > _MAX_TARGET:
            raise _Violation("descriptor target %d" % t)
        out.append(None if t == -1 else t)
    return out


class _RunSpec:
    __slots__ = ("flags", "program", "arguments", "environment")

    def __init__(self, r, outer):
        """Reads a run spec whose flags word may also carry the bits `outer`."""
        self.flags = r.u32()
        if self.flags & ~(_SPEC_FLAGS | outer):
            raise _Violation("run flags %d" % self.flags)
        if self.flags & _QUICK_EXIT and not self.flags & _CALL:
            raise _Violation("quick exit without call")
        self.program = r.string()
        if not self.program or b"\0" in self.program:
            raise _Violation("program")
        self.arguments = r.list()
        self.environment = r.list() if self.flags & _ENVIRONMENT else None
        if any(b"\0" in s for s in self.arguments):
            raise _Violation("argument holds a NUL byte")
        for s in self.environment or ():
            if b"\0" in s or b"=" not in s:
                raise _Violation("environment string is not NAME=VALUE without NUL")

    @property
    def working_directory(self):
        return self.flags & _WORKING_DIRECTORY != 0


class _Attributes:
    """The caller's process attributes (forkctl-protocol(7), Process attributes)."""

    __slots__ = ("umask", "nice", "ignored", "blocked", "limits", "flags", "caps")

    def __init__(self, r):
        self.umask = r.u32()
        self.nice = r.i32()
        self.ignored = r.u64()
        self.blocked = r.u64()
        if self.umask & ~0o777 or not -20 <= self.nice <= 19 or (self.ignored | self.blocked) & _UNMASKABLE:
            raise _Violation("process attributes")
        n = r.u32()
        if n * 20 > len(r.data) - r.at:
            raise _Violation("limit count")
        self.limits = []
        for _ in range(n):
            resource, soft, hard = r.u32(), r.u64(), r.u64()
            if resource >= 16 or soft > hard or any(resource == l[0] for l in self.limits):
                raise _Violation("resource limit %d" % resource)
            self.limits.append((resource, soft, hard))
        self.flags = r.u32()
        self.caps = [r.u64() for _ in range(5)]  # bounding, permitted, effective, inheritable, ambient
        if self.flags & ~7 or (not self.flags & _ATTR_DROP_CAPABILITIES and any(self.caps)):
            raise _Violation("attribute flags")


# The post-fork import audit.


class _PostForkImports:
    """First on sys.meta_path: records each module imported in a process forked from the
    template (a worker), in the memfd forkctl-imports, which `forkctl audit` reads through
    /proc/PID/fd; it finds nothing itself, so the import goes on as usual (seed 004:
    modules a preload missed cost every worker their own copy, cpython gh-157216)."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        global _imports_fd
        if os.getpid() != _template_pid and not _host_importing:
            if _imports_fd is None:
                _imports_fd = os.memfd_create("forkctl-imports", os.MFD_CLOEXEC)
            os.write(_imports_fd, fullname.encode() + b"\n")
        return None

    @staticmethod
    def invalidate_caches():
        pass


def _forget_imports_file():
    # A fork of a worker keeps its parent's memfd open, with the same offset: the child
    # records in a file of its own, from its own fork.
    global _imports_fd
    if _imports_fd is not None:
        _close_all([_imports_fd])
        _imports_fd = None


def _host_import(name):
    """A module the host itself needs in a worker, left out of the worker's audit."""
    global _host_importing
    _host_importing = True
    try:
        return importlib.import_module(name)
    finally:
        _host_importing = False


# Processes.


def _set_comm(name):
    # The kernel keeps the first 15 bytes (proc(5), /proc/pid/comm).
    try:
        fd = os.open("/proc/self/comm", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, name[:15])
        finally:
            os.close(fd)
    except OSError:
        pass


def _thread_names():
    """The names of this process's threads, the main thread first (/proc/self/task/*/comm)."""
    names = []
    pid = str(os.getpid())
    for tid in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/comm" % tid, "rb") as f:
                name = f.read().rstrip(b"\n")
        except OSError:
            continue  # a thread that ended since the listing is not counted
        if tid == pid:
            names.insert(0, name)
        else:
            names.append(name)
    return names


def _thread_census():
    """The names of the threads, giving those that are exiting 100 ms, as the native template does."""
    deadline = time.monotonic() + _THREAD_GRACE
    names = _thread_names()
    while len(names) > 1 and time.monotonic() < deadline:
        time.sleep(0.002)
        names = _thread_names()
    return names


def _thread_count():
    """num_threads, field 20 of /proc/self/stat (proc(5)): one read, at every fork."""
    fd = os.open("/proc/self/stat", os.O_RDONLY | os.O_CLOEXEC)
    try:
        stat = os.read(fd, 4096)
    finally:
        os.close(fd)
    return int(stat.rsplit(b")", 1)[1].split()[17])


def _single_threaded(action):
    """fork(2) copies only the calling thread, and a lock another thread held stays held for ever
    in the child: refuses, saying why, unless this process has one thread (Template.singleThreaded)."""
    if _thread_count() == 1:
        return True
    names = _thread_census()
    if len(names) <= 1:
        return True
    listed = ", ".join(n.decode(errors="replace") for n in names)
    message = "process %d has %d threads (%s); %s it is unsafe" % (os.getpid(), len(names), listed, action)
    _refused(_TEMPLATE_FAILED, message)
    return False


def _cannot_create_process(e):
    hint = ""
    if e.errno == errno.EAGAIN:
        hint = " (a limit on processes is reached: the user's RLIMIT_NPROC, a pids cgroup, or kernel.pid_max)"
    return "the template cannot create a process: %s%s" % (os.strerror(e.errno), hint)


def _fork_process():
    """os.fork, with Python's buffered output flushed first (each child would write it again)."""
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (AttributeError, OSError, ValueError):
            pass
    return os.fork()


def _after_fork_in_child():
    """In any child this process forks: the children announced are its parent's, not its own."""
    global _poller
    _close_all(_children)
    _children.clear()
    _poller = None
    _forget_imports_file()


def _adopt(pid):
    """Opens a pidfd of `pid`, a child just forked, before anything could reap it."""
    try:
        return os.pidfd_open(pid)
    except OSError as e:
        # Without a pidfd the daemon could not be told of the child: it does not live on.
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise e


def _announce(pid, pidfd):
    """Report hostChild: `pid` is this process's child, whose end it reports (childEnded)."""
    _children[pidfd] = pid
    _poller.register(pidfd, select.POLLIN)
    _report(_frame(_HOST_CHILD, _I32.pack(pid), 1), [pidfd])


def _reap(pidfd):
    """A child's pidfd is readable: it ended. Its status goes to the daemon before the child is
    reaped (waitid WNOWAIT), so that if this process dies in between, the zombie goes to the
    daemon, which reaps it itself."""
    pid = _children[pidfd]
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        # Reaped by code this process was given (an os.wait in an eval): its status is lost.
        info = None
    else:
        if info is None:
            return
        tag = {os.CLD_EXITED: 1, os.CLD_KILLED: 2, os.CLD_DUMPED: 3}[info.si_code]
        _report(_frame(_CHILD_ENDED, _I32.pack(pid) + _U8.pack(tag) + _I32.pack(info.si_status)))
        os.waitpid(pid, os.WNOHANG)
    del _children[pidfd]
    _poller.unregister(pidfd)
    os.close(pidfd)


# Placing descriptors and applying attributes: exec.c and call.c, in Python.


def _placements(fds):
    """Fixed targets first; every other descriptor takes the lowest number nobody else has, in order."""
    fixed = {t for _, t in fds if t is not None}
    out = []
    next_free = 0
    for fd, target in fds:
        if target is None:
            while next_free in fixed:
                next_free += 1
            target = next_free
            next_free += 1
        out.append((fd, target))
    return out


def _place(moves, keep, calling):
    """forkctl_place_descriptors: each source on its target (the last for a target wins),
    /dev/null on any of 0, 1, 2 not a target, after lifting every source and `keep` above the
    highest target (`keep` gets their new numbers). Before an exec every other descriptor up
    to the highest target is closed; a call touches nothing else. Returns the highest target."""
    highest = max([2] + [t for _, t in moves])
    lifted = [fcntl.fcntl(src, fcntl.F_DUPFD_CLOEXEC, highest + 1) for src, _ in moves]
    for i, fd in enumerate(keep):
        keep[i] = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, highest + 1)
        os.close(fd)
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    lifted_null = fcntl.fcntl(null, fcntl.F_DUPFD_CLOEXEC, highest + 1)
    os.close(null)
    sources = {}
    for (_, target), fd in zip(moves, lifted):
        sources[target] = fd
    for t in range(highest + 1):
        source = sources.get(t, lifted_null if t <= 2 else None)
        if source is not None:
            os.dup2(source, t)  # the copy on t is inherited across exec
        elif not calling:
            _close_all([t])
    if calling:
        _close_all(lifted + [lifted_null])
    return highest


def _close_on_exec_above(low):
    # Nothing above the targets survives exec, whoever opened it.
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > low:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


class _Kernel:
    """The few system calls the standard library does not offer, through ctypes (imported only
    in a worker whose attributes need them)."""

    _numbers = {
        "x86_64": {"rt_sigaction": 13, "rt_sigprocmask": 14, "capget": 125, "capset": 126},
        "aarch64": {"rt_sigaction": 134, "rt_sigprocmask": 135, "capget": 90, "capset": 91},
    }
    _libc = None

    @classmethod
    def libc(cls):
        if cls._libc is None:
            ctypes = _host_import("ctypes")
            cls._libc = ctypes.CDLL(None, use_errno=True)
            cls.ctypes = ctypes
        return cls._libc

    @classmethod
    def call(cls, name, *args):
        libc = cls.libc()
        number = cls._numbers[os.uname().machine][name]
        if libc.syscall(number, *args) != 0:
            raise OSError(cls.ctypes.get_errno(), name)

    @classmethod
    def prctl(cls, option, a=0, b=0, c=0, d=0):
        libc = cls.libc()
        u = cls.ctypes.c_ulong
        r = libc.prctl(option, u(a), u(b), u(c), u(d))
        if r < 0:
            e = cls.ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return r

    @classmethod
    def set_mask(cls, mask):
        """rt_sigprocmask with the kernel's 64-bit set, 32 and 33 included."""
        cls.libc()
        m = cls.ctypes.c_uint64(mask)
        cls.call("rt_sigprocmask", signal.SIG_SETMASK, cls.ctypes.byref(m), None, 8)

    @classmethod
    def ignore(cls, sig):
        """rt_sigaction(sig, SIG_IGN), for the signals glibc refuses."""
        cls.libc()
        action = (cls.ctypes.c_uint64 * 4)(1, 0, 0, 0)  # handler SIG_IGN, flags, restorer, mask
        cls.call("rt_sigaction", sig, action, None, 8)


def _set_mask(mask):
    if any(mask & (1 << (s - 1)) for s in _GLIBC_SIGNALS):
        _Kernel.set_mask(mask)
    else:
        _signal.pthread_sigmask(signal.SIG_SETMASK, [s for s in _SIGNALS if mask & (1 << (s - 1))] if mask else ())


def _block_all():
    _signal.pthread_sigmask(signal.SIG_SETMASK, _SIGNALS)


def _reset_signal_actions():
    # An ignored signal stays ignored across exec (signal(7)): Python ignores SIGPIPE and
    # SIGXFSZ, which no program run from here may inherit.
    for sig in _SIGNALS:
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            if _signal.getsignal(sig) not in (_signal.SIG_DFL, None):
                _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass


class _Failure(Exception):
    """A step of preparing a worker failed: `word` is the failure word (step << 16 | errno)."""

    def __init__(self, step, error):
        super().__init__(step, error)
        self.word = (step << 16) | (error & 0xFFFF)


def _step(step, action, *args):
    try:
        return action(*args)
    except OSError as e:
        raise _Failure(step, e.errno or errno.EINVAL)


def _apply_attributes(a, calling):
    """forkctl_apply_attributes: session or process group, limits, nice value, umask,
    no_new_privs, capabilities, ignored signals, the mask last."""
    if a is not None and a.flags & _ATTR_NEW_SESSION_TTY:
        # setsid fails with EPERM in a process group leader: a process object forked by the
        # template already leads its own group, so only a spawn's new process can do this.
        _step(_STEP_SESSION, os.setsid)
        termios = _host_import("termios")
        _step(_STEP_CONTROLLING_TERMINAL, fcntl.ioctl, 0, termios.TIOCSCTTY, 0)
        _step(_STEP_SESSION, _monitor_start)
    else:
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
    if a is None:
        _set_mask(0)
        return
    if a.limits:
        for number, soft, hard in a.limits:
            _step(_STEP_RLIMIT + number, _set_limit, resource, number, soft, hard)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, a.nice)
    except OSError as e:
        # A lower nice value needs CAP_SYS_NICE or RLIMIT_NICE (setpriority(2)): the
        # worker keeps the template's, as the native one does.
        if e.errno not in (errno.EACCES, errno.EPERM):
            raise _Failure(_STEP_NICE, e.errno)
    os.umask(a.umask)
    if a.flags & _ATTR_NO_NEW_PRIVS:
        _step(_STEP_NO_NEW_PRIVS, _Kernel.prctl, 38, 1)  # PR_SET_NO_NEW_PRIVS
    if a.flags & _ATTR_DROP_CAPABILITIES:
        _step(_STEP_CAPABILITIES, _limit_capabilities, a.caps)
    for sig in range(1, 65):
        if not a.ignored & (1 << (sig - 1)):
            continue
        try:
            # In a call a handler Python or a module installed stays, as a library's does.
            if calling and sig not in _GLIBC_SIGNALS and _signal.getsignal(sig) not in (_signal.SIG_DFL, None):
                continue
            if sig in _GLIBC_SIGNALS:
                _Kernel.ignore(sig)
            else:
                _signal.signal(sig, _signal.SIG_IGN)
        except (OSError, ValueError) as e:
            raise _Failure(_STEP_SIGNALS, getattr(e, "errno", None) or errno.EINVAL)
    _step(_STEP_SIGNALS, _set_mask, a.blocked)


def _set_limit(resource, number, soft, hard):
    """setrlimit; a hard limit above this process's (EPERM) is lowered to it, as the native worker does."""
    infinity = (1 << 64) - 1

    def value(v):
        # The module reads a signed 64-bit number and casts it to rlim_t: the same bits.
        return v - (1 << 64) if v >= 1 << 63 else v

    try:
        resource.setrlimit(number, (value(soft), value(hard)))
        return
    except ValueError as e:
        # The resource module says EPERM as "not allowed to raise maximum limit".
        if "not allowed" not in str(e):
            raise OSError(errno.EINVAL, str(e))
    _, own = resource.getrlimit(number)
    own = own + (1 << 64) if own < 0 else own
    hard = min(hard, own)
    soft = min(soft, hard)
    try:
        resource.setrlimit(number, (value(soft), value(hard)))
    except ValueError as e:
        raise OSError(errno.EPERM, str(e))


def _limit_capabilities(caps):
    """Each capability set limited to the caller's mask (capabilities(7)), as exec.c does it."""
    bounding, permitted, effective, inheritable, ambient = caps
    _Kernel.libc()
    for cap in range(64):
        if bounding & (1 << cap):
            continue
        try:
            if _Kernel.prctl(23, cap) == 1:  # PR_CAPBSET_READ
                _Kernel.prctl(24, cap)  # PR_CAPBSET_DROP
        except OSError as e:
            if e.errno != errno.EINVAL:  # no such capability on this kernel
                raise
    for cap in range(64):
        if ambient & (1 << cap):
            continue
        try:
            if _Kernel.prctl(47, 1, cap) == 1:  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET
                _Kernel.prctl(47, 3, cap)  # PR_CAP_AMBIENT_LOWER
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
    ctypes = _Kernel.ctypes
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # two of effective, permitted, inheritable
    _Kernel.call("capget", header, data)
    refilled = kept = 0
    for i in range(2):
        e, p, h = data[3 * i], data[3 * i + 1], data[3 * i + 2]
        p &= (permitted >> (32 * i)) & 0xFFFFFFFF
        e &= (effective >> (32 * i)) & 0xFFFFFFFF
        h &= (inheritable >> (32 * i)) & 0xFFFFFFFF
        data[3 * i], data[3 * i + 1], data[3 * i + 2] = e, p, h
        refilled |= h << (32 * i)
        kept |= (p & e) << (32 * i)
    for cap in range(64):
        try:
            if _Kernel.prctl(23, cap) == 1:
                refilled |= 1 << cap
        except OSError:
            pass
    # User id 0 gets its bounding and inheritable sets back at execve: SECBIT_NOROOT keeps the
    # lowered sets, as exec.c explains.
    if (os.getuid() == 0 or os.geteuid() == 0) and refilled & ~kept:
        bits = _Kernel.prctl(27)  # PR_GET_SECUREBITS
        _Kernel.prctl(28, bits | 1)  # PR_SET_SECUREBITS, SECBIT_NOROOT
    _Kernel.call("capset", header, data)


def _monitor_start():
    """With a terminal: this process stays the session leader, a monitor, and the program goes on
    in its child, in a process group of its own in the terminal's foreground (monitor.c)."""
    leader = os.getpid()
    pid = os.fork()
    if pid > 0:
        _monitor(pid)
    os.setpgid(0, 0)
    os.tcsetpgrp(0, os.getpid())
    # The daemon's SIGKILL reaches only the monitor: the program dies with it.
    _Kernel.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != leader:
        os._exit(128 + signal.SIGKILL)


def _monitor(program):
    try:
        os.setpgid(program, program)
    except OSError:
        pass
    # Nothing of the program's stays open here but the terminal on 0.
    os.closerange(1, 1 << 20)
    everything = signal.valid_signals()
    while True:
        sig = signal.sigwaitinfo(everything).si_signo
        if sig == signal.SIGCHLD:
            while True:
                pid, status = os.waitpid(program, os.WNOHANG | os.WUNTRACED)
                if pid != program:
                    break
                if not os.WIFSTOPPED(status):
                    _exit_like(status)
                os.kill(os.getpid(), signal.SIGSTOP)
            continue
        if sig == signal.SIGCONT:
            os.tcsetpgrp(0, program)
        try:
            os.killpg(program, sig)
        except OSError:
            os.kill(program, sig)


def _exit_like(status):
    """Ends the monitor as the program ended; dumping off, the core is the program's."""
    if os.WIFEXITED(status):
        os._exit(os.WEXITSTATUS(status))
    sig = os.WTERMSIG(status)
    _Kernel.prctl(4, 0)  # PR_SET_DUMPABLE
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
    os._exit(128 + sig)


# Programs: exec, as Template.run.


def _exec_search(program, argv, env):
    """execvp(3) with the environment's PATH; a file that is no executable format runs under the
    shell. Returns the errno of the failure."""
    if b"/" in program:
        try:
            os.execve(program, argv, env)
        except OSError as e:
            if e.errno == errno.ENOEXEC:
                return _exec_with_shell(program, argv, env)
            if e.errno == errno.EACCES and os.path.isdir(program):
                return errno.EISDIR
            return e.errno
    if len(program) > 255:
        return errno.ENAMETOOLONG
    seen_eacces = False
    for directory in env.get(b"PATH", b"/bin:/usr/bin").split(b":"):
        path = directory + b"/" + program if directory else program
        try:
            os.execve(path, argv, env)
        except OSError as e:
            if e.errno == errno.EACCES:
                seen_eacces = True
            elif e.errno == errno.ENOEXEC:
                return _exec_with_shell(path, argv, env)
            elif e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ESTALE, errno.ENODEV, errno.ETIMEDOUT,
                                 errno.ELOOP, errno.ENAMETOOLONG):
                return e.errno
    return errno.EACCES if seen_eacces else errno.ENOENT


def _exec_with_shell(path, argv, env):
    try:
        os.execve(b"/bin/sh", [b"/bin/sh", path] + argv[1:], env)
    except OSError as e:
        return e.errno


def _environment_map(strings):
    env = {}
    for s in strings:
        k, _, v = s.partition(b"=")
        env[k] = v
    return env


class _RunSetup:
    """What a run or a call prepares (Template.RunSetup): where each descriptor goes, the
    environment, and what the daemon watches (`keep`: the control socket unless the program
    keeps it, then the status pipe if there is one)."""

    __slots__ = ("cwd", "pipe", "moves", "environment", "keep", "slot")

    def __init__(self, spec, status_pipe, received):
        self.pipe = received[-1] if status_pipe else None
        self.cwd = received[0] if spec.working_directory else None
        self.moves = _placements(_fds)
        self.environment = list(spec.environment) if spec.environment is not None else _own_environment()
        self.keep = []
        self.slot = None
        if spec.flags & _KEEP_CONTROL:
            self.slot = max([2] + [t for _, t in self.moves]) + 1
            self.moves.append((_CONTROL_FD, self.slot))
            self.environment = [s for s in self.environment if not s.startswith(_CONTROL_VARIABLE)]
            self.environment.append(_CONTROL_VARIABLE + str(self.slot).encode())
        else:
            self.keep.append(_CONTROL_FD)
        if self.pipe is not None:
            self.keep.append(self.pipe)


def _own_environment():
    return [k + b"=" + v for k, v in os.environb.items()]


def _fail_run(word, setup):
    """The program did not start: tells the daemon why (status pipe, or the control socket), then
    exits as a shell does, 127 for not found, 126 otherwise (Template.failRun)."""
    try:
        if setup.pipe is not None:
            os.write(setup.keep[-1], _I32.pack(word))
        else:
            os.write(setup.keep[0], _frame(_EXEC_FAILED, _I32.pack(word)))
    except OSError:
        pass
    step, error = word >> 16, word & 0xFFFF
    os._exit(127 if error == errno.ENOENT and step in (_STEP_EXEC, _STEP_SYMBOL) else 126)


def _run(spec, status_pipe, attributes, received):
    setup = _RunSetup(spec, status_pipe, received)
    argv = [spec.program] + _arguments + spec.arguments
    try:
        _prepare_exec(setup.moves, setup.cwd, setup.keep, attributes)
        word = _exec_search(spec.program, argv, _environment_map(setup.environment))
    except BaseException as e:
        word = _failure_word(e)
    _fail_run(word, setup)


def _failure_word(e):
    """The failure word of what stopped a worker before its program or function: a step that
    failed, or (a defect of this host) any other exception, reported with its traceback."""
    if isinstance(e, _Failure):
        return e.word
    traceback.print_exc()
    return (_STEP_EXEC << 16) | (getattr(e, "errno", None) or errno.EINVAL)


def _prepare_exec(moves, cwd, keep, attributes):
    """exec_worker up to the exec: actions reset, directory, descriptors, attributes."""
    _reset_signal_actions()
    if cwd is not None:
        _step(_STEP_WORKING_DIRECTORY, os.fchdir, cwd)
    highest = _step(_STEP_EXEC, _place, moves, keep, False)
    _close_on_exec_above(highest)
    _apply_attributes(attributes, False)


# Functions: call, as Template.call.


def _resolve(target):
    """`module:function`, the attribute path possibly dotted (pkg.mod:obj.method)."""
    module_name, _, attribute = os.fsdecode(target).partition(":")
    if not module_name or not attribute:
        raise LookupError("%s is not module:function" % os.fsdecode(target))
    obj = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise LookupError("%s is not callable" % os.fsdecode(target))
    return obj


def _prepared_target(target):
    """The function to call, or the symbol failure: its reason goes on the worker's stderr."""
    try:
        return _resolve(target)
    except BaseException:
        sys.stderr.write("forkctl: cannot find %s: " % os.fsdecode(target))
        sys.stderr.write(traceback.format_exc() if _raised_inside() else "".join(
            traceback.format_exception_only(*sys.exc_info()[:2])))
        sys.stderr.flush()
        raise _Failure(_STEP_SYMBOL, errno.ENOENT)


def _raised_inside():
    """Whether the lookup failed in the module's own code (worth a traceback), not at the name."""
    e = sys.exc_info()[1]
    return not isinstance(e, (ModuleNotFoundError, AttributeError, LookupError))


def _prepare_call(setup, target, attributes, close):
    """forkctl_prepare_call: signals blocked, directory, descriptors (the host's own lifted with
    the sources and kept until every step has succeeded), attributes, environment; then the
    function is looked up (importing its module: an import after the fork), the worker named
    after it, and the host's descriptors closed. Returns the function."""
    global _sock, _imports_fd
    _block_all()
    if setup.cwd is not None:
        _step(_STEP_WORKING_DIRECTORY, os.fchdir, setup.cwd)
    # The imports file is state of this process, as a library's descriptors are: it moves out
    # of the targets' way.
    own = [_imports_fd] if _imports_fd is not None else []
    lifted = close + own
    try:
        _step(_STEP_EXEC, _place, setup.moves, lifted, True)
    finally:
        # The numbers they have now, also when placing failed half-way: the failure is
        # reported through the last of them.
        close[:] = lifted[: len(close)]
        if own:
            _imports_fd = lifted[-1]
    _apply_attributes(attributes, True)
    _replace_environment(setup.environment)
    function = _prepared_target(target)
    # Before the close: the daemon, seeing end of file, reads the name to tell a function that
    # started from a process that died (a name without '/').
    _set_comm(target.replace(b"/", b"_"))
    _sock.detach()
    _sock = None
    _close_all(close)
    return function


def _replace_environment(strings):
    wanted = _environment_map(strings)
    env = os.environb
    for k in [k for k in env if k not in wanted]:
        del env[k]
    for k, v in wanted.items():
        if env.get(k) != v:
            env[k] = v


def _call(spec, status_pipe, attributes, received):
    global _kept_control
    setup = _RunSetup(spec, status_pipe, received)
    close = [f for f in received if f != setup.pipe] + [fd for fd, _ in _fds]
    if setup.slot is not None:
        close.append(_CONTROL_FD)
    close += setup.keep
    try:
        function = _prepare_call(setup, spec.program, attributes, close)
    except BaseException as e:
        setup.keep = close[len(close) - len(setup.keep) :]
        _fail_run(_failure_word(e), setup)
    _kept_control = setup.slot
    _call_and_exit(function, spec)


def _call_and_exit(function, spec):
    """Calls the function with the strings sent, then the call's own, and ends the worker with its
    result, as multiprocessing's forkserver child does: the template's atexit handlers cleared,
    the collector on, then this process's own handlers, stdio flushed, os._exit."""
    args = [os.fsdecode(a) for a in _arguments + spec.arguments]
    # What a program's argv would be: the name, then the strings (argparse reads it).
    sys.argv = [os.fsdecode(spec.program)] + args
    atexit._clear()
    gc.enable()
    if sys.stdout is not None and os.isatty(1):
        sys.stdout.reconfigure(line_buffering=True)
    try:
        status = _status_of(function(*args))
    except SystemExit as e:
        status = _exit_code(e.code)
    except BaseException as e:
        # From the function's frame on: the host's own frame says nothing to its author.
        traceback.print_exception(type(e), e, e.__traceback__.tb_next)
        status = 1
    if spec.flags & _QUICK_EXIT:
        os._exit(status)
    atexit._run_exitfuncs()
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(status)


def _status_of(value):
    if isinstance(value, int):
        return value & 0xFF
    return 0


def _exit_code(code):
    """What SystemExit(code) makes the status, as the interpreter's own exit does."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write("%s\n" % (code,))
    return 1


# Commands.


def _fork_object(object_id, control):
    """The fork command: the child serves its own control socket as a new process object; the
    parent announces it (hostChild) before reporting the fork."""
    global _object_id
    if not _single_threaded("forking"):
        _close_all([control])
        return
    try:
        pid = _fork_process()
    except OSError as e:
        _close_all([control])
        _refused(_TEMPLATE_FAILED, _cannot_create_process(e))
        return
    if pid == 0:
        os.dup2(control, _CONTROL_FD)
        os.close(control)
        # Its own process group: a program's kill(0, ...) cannot reach the daemon, and signals
        # forwarded by spawn reach the program's children as a terminal's would.
        os.setpgid(0, 0)
        _object_id = object_id
        _start_serving()
        # Its pid before anything else: should the parent die before reporting the fork, the
        # daemon still knows whose status it reaps.
        _report(_frame(_SPAWNING, _I32.pack(os.getpid())))
        return
    os.close(control)
    try:
        pidfd = _adopt(pid)
    except OSError as e:
        _refused(_TEMPLATE_FAILED, "the template cannot open a pidfd of its child: %s" % os.strerror(e.errno))
        return
    _announce(pid, pidfd)
    _report(_frame(_FORKED, _I32.pack(pid)))


def _spawn(object_id, targets, spec, attributes, received):
    """The spawn command: a new process at once, which announces its own pid (spawning), then
    prepares and execs the program or calls the function; answered by spawned once it runs or
    failed to (a close-on-exec pipe: end of file, or its failure word)."""
    global _object_id
    extra = received[: len(targets)]
    cwd = received[-1] if spec.working_directory else None
    try:
        if not _single_threaded("spawning from"):
            return
        if spec.flags & _CALL and not _may_exist(spec.program):
            message = "no module loaded into the template defines %s" % os.fsdecode(spec.program)
            _refused(_SYMBOL_NOT_FOUND, message)
            return
        try:
            prepared_read, prepared_write = os.pipe()
        except OSError as e:
            _refused(_TEMPLATE_FAILED, "the template cannot create a pipe: %s" % os.strerror(e.errno))
            return
        try:
            pid = _fork_process()
        except OSError as e:
            _close_all([prepared_read, prepared_write])
            _refused(_TEMPLATE_FAILED, _cannot_create_process(e))
            return
        if pid == 0:
            _object_id = object_id
            _report(_frame(_SPAWNING, _I32.pack(os.getpid())))
            os.close(prepared_read)
            _spawned_child(extra, targets, cwd, spec, attributes, received, prepared_write)
        try:
            pidfd = _adopt(pid)
        except OSError as e:
            _close_all([prepared_read, prepared_write])
            _refused(_TEMPLATE_FAILED, "the template cannot open a pidfd of its child: %s" % os.strerror(e.errno))
            return
        os.close(prepared_write)
        failure = b""
        while True:
            chunk = os.read(prepared_read, 4 - len(failure))
            if not chunk:
                break
            failure += chunk
            if len(failure) == 4:
                break
        os.close(prepared_read)
        _announce(pid, pidfd)
        word = _I32.unpack(failure)[0] if len(failure) == 4 else 0
        _report(_frame(_SPAWNED, _I32.pack(pid) + _I32.pack(word)))
    finally:
        _close_all(received)


def _may_exist(target):
    """Whether the function of a spawn may be found: looked up in the template when its module is
    imported already (a name it lacks is refused at once, as the native template refuses a symbol
    no library exports); otherwise the new process imports it."""
    module_name, _, attribute = os.fsdecode(target).partition(":")
    if not module_name or not attribute:
        return False
    obj = sys.modules.get(module_name)
    if obj is None:
        return True
    for part in attribute.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return callable(obj)


def _spawned_child(extra, targets, cwd, spec, attributes, received, prepared):
    """The new process of a spawn: never returns."""
    moves = _placements(_fds + list(zip(extra, targets)))
    environment = list(spec.environment) if spec.environment is not None else _own_environment()
    if spec.flags & _CALL:
        # The pipe last: on failure the report goes through it, on its new number.
        close = received + [fd for fd, _ in _fds] + [_CONTROL_FD, prepared]
        setup = _SpawnSetup(moves, cwd, environment)
        try:
            function = _prepare_call(setup, spec.program, attributes, close)
        except BaseException as e:
            word = _failure_word(e)
            _write_failure(close[-1], word)
            os._exit(127 if word == (_STEP_SYMBOL << 16 | errno.ENOENT) else 126)
        _call_and_exit(function, spec)
    keep = [_CONTROL_FD, prepared]
    argv = [spec.program] + _arguments + spec.arguments
    _block_all()
    try:
        _prepare_exec(moves, cwd, keep, attributes)
        word = _exec_search(spec.program, argv, _environment_map(environment))
    except BaseException as e:
        word = _failure_word(e)
    _write_failure(keep[-1], word)
    os._exit(127 if word == errno.ENOENT else 126)


class _SpawnSetup:
    __slots__ = ("moves", "cwd", "environment")

    def __init__(self, moves, cwd, environment):
        self.moves = moves
        self.cwd = cwd
        self.environment = environment


def _write_failure(fd, word):
    try:
        os.write(fd, _I32.pack(word))
    except OSError:
        pass


def _enter(working_directory):
    """Changes to the caller's directory sent with a load or eval; it stays this process's."""
    if working_directory is None:
        return True
    try:
        os.fchdir(working_directory)
        return True
    except OSError as e:
        reason = os.strerror(e.errno)
        _load_refused(_WORKING_DIRECTORY_FAILED, "cannot change to the caller's working directory: %s" % reason)
        return False
    finally:
        os.close(working_directory)


def _describe(e):
    """An exception as one line, with where it was raised when that is in the module's code."""
    text = "".join(traceback.format_exception_only(type(e), e)).strip()
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None and not isinstance(e, ModuleNotFoundError):
        text += " (%s, line %d)" % (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
    return text


def _loaded():
    """After a load or eval: the collector's own state frozen, so that a worker's collections
    never write to the template's objects (gc.freeze(); next-capabilities.md 2.3), and the
    threads counted."""
    gc.collect()
    gc.freeze()
    names = _thread_census()
    _report(_frame(_LOADED, _U32.pack(len(names)) + _list(names)))


def _load(path, init, arguments, working_directory):
    if not _enter(working_directory):
        return
    name = os.fsdecode(path)
    try:
        module = importlib.import_module(name)
    except BaseException as e:
        _load_refused(_LOAD_FAILED, _describe(e))
        return
    if init:
        function = module
        try:
            for part in os.fsdecode(init).split("."):
                function = getattr(function, part)
        except AttributeError:
            _load_refused(_SYMBOL_NOT_FOUND, "%s has no %s" % (name, os.fsdecode(init)))
            return
        try:
            function(*[os.fsdecode(a) for a in arguments])
        except BaseException as e:
            _load_refused(_LOAD_FAILED, _describe(e))
            return
    _loaded()


def _eval(code, arguments, working_directory):
    """exec(code) in __main__, with sys.argv ['-c', ARG...] meanwhile, as `python3 -c` has it."""
    if not _enter(working_directory):
        return
    saved = sys.argv
    sys.argv = ["-c"] + [os.fsdecode(a) for a in arguments]
    try:
        exec(compile(os.fsdecode(code), "<forkctl eval>", "exec"), _main.__dict__)
    except BaseException as e:
        _load_refused(_LOAD_FAILED, _describe(e))
        return
    finally:
        sys.argv = saved
    _loaded()


def _handle(kind, payload, received):
    r = _Reader(payload)
    if kind == _COMMAND_FORK:
        object_id = r.u64()
        r.finish()
        _check_fds(received, 1)
        _fork_object(object_id, received[0])
    elif kind == _COMMAND_FDS:
        targets = _targets(r)
        r.finish()
        _check_fds(received, len(targets))
        _fds.extend(zip(received, targets))
    elif kind == _COMMAND_ARGS:
        strings = r.list()
        r.finish()
        _check_fds(received, 0)
        _arguments.extend(strings)
    elif kind == _COMMAND_RUN:
        spec = _RunSpec(r, _STATUS_PIPE | _ATTRIBUTES)
        attributes = _Attributes(r) if spec.flags & _ATTRIBUTES else None
        r.finish()
        status_pipe = spec.flags & _STATUS_PIPE != 0
        _check_fds(received, int(spec.working_directory) + int(status_pipe))
        (_call if spec.flags & _CALL else _run)(spec, status_pipe, attributes, received)
    elif kind == _COMMAND_SPAWN:
        object_id = r.u64()
        targets = _targets(r)
        spec = _RunSpec(r, _ATTRIBUTES)
        if spec.flags & _KEEP_CONTROL:
            raise _Violation("spawn command flags")
        attributes = _Attributes(r) if spec.flags & _ATTRIBUTES else None
        r.finish()
        _check_fds(received, len(targets) + int(spec.working_directory))
        _spawn(object_id, targets, spec, attributes, received)
    elif kind == _COMMAND_LOAD:
        flags = r.u32()
        path, init, arguments = r.string(), r.string(), r.list()
        r.finish()
        if flags & ~(_LOAD_GLOBAL | _LOAD_WORKING_DIRECTORY) or not path or b"\0" in path + init:
            raise _Violation("load")
        if any(b"\0" in a for a in arguments):
            raise _Violation("argument holds a NUL byte")
        _check_fds(received, 1 if flags & _LOAD_WORKING_DIRECTORY else 0)
        _load(path, init, arguments, received[0] if received else None)
    elif kind == _COMMAND_EVAL:
        flags = r.u32()
        code, arguments = r.string(), r.list()
        r.finish()
        if flags & ~_LOAD_WORKING_DIRECTORY or not code or b"\0" in code or any(b"\0" in a for a in arguments):
            raise _Violation("eval")
        _check_fds(received, 1 if flags & _LOAD_WORKING_DIRECTORY else 0)
        _eval(code, arguments, received[0] if received else None)
    else:
        raise _Violation("unexpected message type %d" % kind)


def _start_serving():
    """A new poller over the control socket, with no child: what a fresh process object starts with."""
    global _poller
    _poller = select.poll()
    _poller.register(_CONTROL_FD, select.POLLIN)


def _serve():
    """Frames on the control socket until end of file; children reaped as their pidfds become
    readable (a host never blocks in waitpid)."""
    while True:
        for fd, _ in _poller.poll():
            if fd in _children:
                _reap(fd)
                continue
            try:
                frame = _receive()
            except _Violation:
                os._exit(_EXIT_VIOLATION)
            except OSError:
                os._exit(0)
            if frame is None:
                # The daemon let go of this process object: it ends. Children still running
                # go to the daemon, the subreaper, which reaps them.
                for f in (sys.stdout, sys.stderr):
                    try:
                        f.flush()
                    except (AttributeError, OSError, ValueError):
                        pass
                os._exit(0)
            kind, payload, received = frame
            try:
                _handle(kind, payload, received)
            except _Violation:
                _close_all(received)
                os._exit(_EXIT_VIOLATION)
            except Exception:
                # A defect of this host: said on stderr, and the process object ends as the
                # native one does on what it cannot handle.
                traceback.print_exc()
                os._exit(_EXIT_VIOLATION)
            break  # the poller may have changed (a fork's child has a new one)


def _keep_source():
    """This script's lines in linecache, then descriptor 4 closed. Its code's file name is
    /proc/self/fd/4: a traceback through the host would otherwise read whatever descriptor 4
    is by then (in a worker, a pipe it was given: the traceback would wait on it for ever)."""
    filename = sys.modules["__main__"].__file__
    try:
        with open(filename, "rb") as f:
            source = f.read().decode("utf-8", "replace")
        # No modification time: linecache.checkcache leaves such an entry alone.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    except OSError:
        pass
    try:
        os.close(_SCRIPT_FD)
    except OSError:
        pass


def _main_loop(object_id):
    global _sock, _object_id, _template_pid, _main
    _keep_source()
    # A name no exec gives (it has a '/'): the daemon tells from it whether a process that
    # ended with a run pending had started its program.
    _set_comm(_PROCESS_NAME)
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    # Imports relative to the working directory, as `python3 -c` has them; not /proc/self/fd.
    sys.path[0] = ""
    # The collector never runs in the template: objects the loads build are frozen after each
    # (gc.freeze's documentation: disable in the parent, freeze before fork, enable in the child).
    gc.disable()
    _object_id = object_id
    _template_pid = os.getpid()
    sys.meta_path.insert(0, _PostForkImports)
    os.register_at_fork(after_in_child=_after_fork_in_child)
    # This file is the module forkctl_host; code that eval runs, and functions called as
    # __main__:name, live in a __main__ of their own, apart from the host's names.
    sys.modules["forkctl_host"] = sys.modules["__main__"]
    _main = type(sys)("__main__")
    _main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = _main
    _sock = socket.socket(fileno=_CONTROL_FD)
    # Started and serving: the exec that made this host is answered now.
    _report(_frame(_HOST_READY))
    _start_serving()
    _serve()


if __name__ == "__main__":
    _main_loop(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 0)
