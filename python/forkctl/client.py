"""The requests of forkctl-protocol(7), one method each, over connections to one daemon."""

import os
import shutil
import signal as _signal
import threading
from collections import namedtuple

from . import _wire as w
from ._connection import Connection, close_all
from .errors import ForkctlError, ProgramNotFound, ProtocolError, ProtocolViolation
from .process import Descriptors, Process, caller_attributes, read_statuses

Created = namedtuple("Created", "id pid")
Created.__doc__ = "A process object made: its id in the daemon and its pid (0 while not known)."

Mappings = namedtuple("Mappings", "paths modules")
Mappings.__doc__ = ("What audit found in a process object: files it maps that its parent did not at the fork, "
                    "and for a worker of a language host the modules imported after the fork, in order.")

MemoryEntry = namedtuple("MemoryEntry", "id parent pid reading errno figures")

DaemonStatus = namedtuple(
    "DaemonStatus", "pid version protocol started_ms uptime_ms log starting ready running exited templates pools "
    "connections")
DaemonStatus.__doc__ = ("The daemon's status (forkctl status): its pid, version and protocol version, its start "
                        "(ms since the epoch) and uptime (ms), its log (a path, or \"stderr\"), its process objects "
                        "by state, its live templates, its pools and its client connections.")

# The figures of a memory entry, in bytes, in the order of the page.
MEMORY_FIELDS = ("rss", "pss", "shared_clean", "shared_dirty", "private_clean", "private_dirty", "anonymous", "swap")


def _single_or_many(refs):
    if isinstance(refs, (int, str, bytes, bytearray)):
        return [refs]
    return list(refs)


class _Directory:
    """The working directory a request sends: an int is a descriptor of the caller's (kept
    open), a path is opened O_PATH for the request and closed after it."""

    def __init__(self, cwd):
        self.owned = None
        if cwd is None:
            self.fd = None
        elif isinstance(cwd, int) and not isinstance(cwd, bool):
            self.fd = cwd
        else:
            self.fd = self.owned = os.open(cwd, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def fds(self):
        return [] if self.fd is None else [self.fd]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.owned is not None:
            os.close(self.owned)


def _current_directory():
    return os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def resolve_interpreter(interpreter, default):
    """The interpreter's absolute path, found as a shell finds it through our PATH."""
    name = os.fspath(interpreter) if interpreter is not None else default
    if "/" in name:
        return os.path.abspath(name)
    found = shutil.which(name)
    if found is None:
        raise ProgramNotFound("%s: not found in PATH" % name)
    return os.path.abspath(found)


class Client:
    """A client of the daemon at `socket` (default: FORKCTL_SOCKET, else
    $XDG_RUNTIME_DIR/forkctl/sock, else /tmp/forkctl-UID/sock), which it starts when none
    answers and `auto_start` (with `executable`, else $FORKCTL_EXECUTABLE, else forkctl in
    PATH). `timeout`: seconds each reply that does not wait for a program may take (default
    FORKCTL_TIMEOUT, else 30; None: for ever).

    The step-by-step calls go over one connection, one at a time (a lock serialises threads);
    `wait`, `run(wait=True)`, `load` and `eval` hold it until they are answered. Each `spawn`
    takes a connection of its own, back to the client once its status has come."""

    def __init__(self, socket=None, *, auto_start=True, executable=None, timeout=-1.0):
        self._options = dict(auto_start=auto_start, executable=executable)
        self._conn = Connection(socket, timeout=timeout, **self._options)
        self.path = self._conn.path
        self.timeout = self._conn.timeout
        self._lock = threading.RLock()
        self._idle = []

    @property
    def connection(self):
        """The connection of the step-by-step calls, for frames of your own."""
        return self._conn

    def close(self):
        """Closes the client's connections (a Process keeps its own until its status came)."""
        with self._lock:
            self._conn.close()
            for c in self._idle:
                c.close()
            self._idle = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _checkout(self):
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return Connection(self.path, timeout=self.timeout, **self._options)

    def _checkin(self, connection):
        with self._lock:
            if self._conn.sock is not None and len(self._idle) < 16:
                self._idle.append(connection)
                return
        connection.close()

    def _request(self, type, payload=b"", fds=(), reply=w.OK, bounded=True):
        """Sends a request on the step-by-step connection; returns the Reader of its reply."""
        with self._lock:
            self._conn.send_frame(type, payload, fds)
            return self._conn.expect(reply, bounded)

    def _ok(self, type, payload=b"", fds=()):
        self._request(type, payload, fds).end()

    def _created(self, type, payload):
        r = self._request(type, payload, reply=w.CREATED)
        created = Created(r.u64(), r.i32())
        r.end()
        return created

    def _statuses(self, type, payload, bounded=True):
        return read_statuses(self._request(type, payload, reply=w.STATUSES, bounded=bounded))

    # --- Process objects ----------------------------------------------------------------

    def hello(self):
        """-> (protocol version, daemon pid)."""
        r = self._request(w.HELLO, w.enc_u8(w.VERSION), reply=w.WELCOME)
        version, pid = r.u8(), r.i32()
        r.end()
        return version, pid

    def new(self, name=""):
        """Forks a process object from the default template. -> Created(id, pid)."""
        return self._created(w.NEW, w.enc_string(name))

    def exec(self, name="", *, python=False, perl=False, interpreter=None, env=None):
        """Starts a fresh template. With `python` (or `perl`) it is a language host: that
        interpreter (`interpreter`, default python3 or perl, found through our PATH) running
        forkctl's host, in `env` (default our environment), ready for load, eval and call of
        module:function. -> Created(id, pid)."""
        if python and perl:
            raise ValueError("a template is a Python host or a Perl host, not both")
        payload = w.enc_string(name)
        if python or perl or interpreter is not None:
            if not (python or perl):
                raise ValueError("interpreter= needs python=True or perl=True")
            language, default = (w.HOST_PYTHON, "python3") if python else (w.HOST_PERL, "perl")
            environment = os.environb if env is None else env
            payload += (w.enc_u8(language) + w.enc_string(resolve_interpreter(interpreter, default))
                        + w.enc_list(w.environment_strings(environment)))
        return self._created(w.EXEC, payload)

    def fork(self, ref, name=""):
        """Forks a process object that has not run. -> Created(id, pid)."""
        return self._created(w.FORK, w.enc_ref(ref) + w.enc_string(name))

    def send_fds(self, ref, fds, targets=None):
        """Sends descriptors (ours stay open): a list, each to the lowest free number or to
        `targets` in order, or a mapping {target: our descriptor}."""
        if hasattr(fds, "items"):
            targets, fds = list(fds.keys()), list(fds.values())
        fds = list(fds)
        targets = [-1] * len(fds) if targets is None else list(targets)
        if not fds or len(targets) != len(fds):
            raise ValueError("send_fds needs at least one descriptor and one target each")
        self._ok(w.SEND_FDS, w.enc_ref(ref) + w.enc_targets(targets), fds)

    def send_args(self, ref, strings):
        """Sends strings: a program run later gets them after its name, a function called
        later as its first arguments."""
        self._ok(w.SEND_ARGS, w.enc_ref(ref) + w.enc_list(strings))

    def run(self, ref, program, args=(), *, cwd=None, env=None, wait=False, keep_control=False, detach=False,
            call=False, quick_exit=False):
        """Runs `program` in ref (found through env's PATH unless it holds a slash). cwd: a
        path or a directory descriptor (None: the template's, which is the daemon's). env: the
        complete environment, or None for the process object's own (empty for the templates
        the daemon starts). -> None once the program runs, or with wait=True its Status once it
        has ended. call=True calls a function ref loaded instead (see call)."""
        with _Directory(cwd) as d:
            spec = w.run_spec(program, args, env=env, cwd=d.fd is not None, keep_control=keep_control, wait=wait,
                              detach=detach, call=call, quick_exit=quick_exit)
            if not wait:
                self._ok(w.RUN, w.enc_ref(ref) + spec, d.fds())
                return None
            [(_, status)] = self._statuses_with_fds(w.RUN, w.enc_ref(ref) + spec, d.fds())
            return status

    def _statuses_with_fds(self, type, payload, fds):
        return read_statuses(self._request(type, payload, fds, reply=w.STATUSES, bounded=False))

    def call(self, ref, function, args=(), **kw):
        """Calls `function` in ref, in place of a program: for a native template the name of a
        function of a library it loaded; for a Python host "module:function" (attributes may
        be dotted: "pkg.mod:obj.method"); for a Perl host "Module::function". It gets the
        strings sent with send_args, then `args`. Takes run's keywords, and quick_exit=True
        to end with _exit(2) (no atexit handler, no flush)."""
        return self.run(ref, function, args, call=True, **kw)

    def load(self, ref, path, args=(), *, init="", cwd=None, global_=False):
        """Loads into ref: a shared library (a native template), or a module (a host: Python
        imports it, Perl requires it), and calls its init (`init`, with `args`). cwd: where ref
        changes to first (path or descriptor), so relative paths mean what they mean here.
        -> the names of ref's threads afterwards."""
        with _Directory(cwd) as d:
            flags = (w.LOAD_GLOBAL if global_ else 0) | (w.LOAD_CWD if d.fd is not None else 0)
            payload = w.enc_ref(ref) + w.enc_u32(flags) + w.enc_string(path) + w.enc_string(init) + w.enc_list(args)
            # A load may take long (an import, an init): not bounded by the timeout.
            return _thread_names(self._request(w.LOAD, payload, d.fds(), reply=w.LOADED, bounded=False))

    def eval(self, ref, code, args=(), *, cwd=None):
        """Runs `code` in a language host ref (Python: exec in __main__ with sys.argv
        ["-c", *args]; Perl: eval with @ARGV). A native template refuses it (WrongState).
        -> the names of ref's threads afterwards."""
        with _Directory(cwd) as d:
            payload = (w.enc_ref(ref) + w.enc_u32(w.LOAD_CWD if d.fd is not None else 0) + w.enc_string(code)
                       + w.enc_list(args))
            return _thread_names(self._request(w.EVAL, payload, d.fds(), reply=w.LOADED, bounded=False))

    def wait(self, refs):
        """Waits until every process object of refs (one ref, or several) has ended.
        -> [(id, Status)] in the order of refs."""
        return self._statuses(w.WAIT, w.enc_refs(_single_or_many(refs)), bounded=False)

    def wait_all(self):
        """Every process object of our user that has run and is not reported yet.
        -> [(id, Status)] in ascending id order, possibly none."""
        return self._statuses(w.WAIT, w.enc_u32(0) + w.enc_u32(1))

    def kill(self, refs, signal=_signal.SIGTERM, *, group=False):
        """Sends `signal` to each process object of refs (with `group`, to the process group
        each leads); every ref is checked before any signal is sent."""
        payload = w.enc_i32(int(signal)) + w.enc_refs(_single_or_many(refs))
        if group:
            payload += w.enc_u32(1)
        self._ok(w.KILL, payload)

    def list(self):
        """-> [Entry] in ascending id order."""
        r = self._request(w.LIST, reply=w.LISTING)
        out = []
        for _ in range(r.u32()):
            id, name, role, parent, pid, state = r.u64(), r.string(), r.u8(), r.u64(), r.i32(), r.u8()
            if role not in w.Entry.ROLES or state not in w.Entry.STATES:
                raise ProtocolError("unknown role %d or state %d" % (role, state))
            status, fds, strings, program = r.status(), r.u32(), r.u32(), r.string()
            out.append(w.Entry(id, name, role, parent, pid, state, status, fds, strings, program))
        r.end()
        return out

    def status(self):
        """-> DaemonStatus of the daemon this client talks to (which connecting may have started;
        `forkctl status` never starts one)."""
        r = self._request(w.STATUS, reply=w.DAEMON_STATUS)
        pid, version, protocol, started, uptime, log = r.i32(), r.string(), r.u8(), r.u64(), r.u64(), r.string()
        counts = [r.u32() for _ in range(7)]
        r.end()
        return DaemonStatus(pid, version.decode(), protocol, started, uptime, log.decode(errors="surrogateescape"),
                            *counts)

    def forget(self, refs):
        """Drops exited process objects. -> [(id, Status)] of those dropped."""
        return self._statuses(w.FORGET, w.enc_refs(_single_or_many(refs)))

    def prune(self):
        """Drops every exited, never reported process object of our user. -> [(id, Status)]."""
        return self._statuses(w.PRUNE, b"")

    def memory(self, refs=()):
        """-> [MemoryEntry(id, parent, pid, reading, errno, {field: bytes})], one per ref, or per
        process object of our user when refs is empty. reading: 0 measured, 1 no process, 2
        unreadable."""
        r = self._request(w.MEMORY, w.enc_refs(_single_or_many(refs)), reply=w.MEMORY_REPLY)
        out = []
        for _ in range(r.u32()):
            id, parent, pid, reading, errno = r.u64(), r.u64(), r.i32(), r.u8(), r.i32()
            figures = {name: r.u64() for name in MEMORY_FIELDS}
            if reading not in (0, 1, 2):
                raise ProtocolError("unknown memory reading %d" % reading)
            out.append(MemoryEntry(id, parent, pid, reading, errno, figures))
        r.end()
        return out

    def audit(self, ref):
        """-> Mappings(paths, modules): the files ref maps that its parent did not when it
        forked it, and for a host's worker the modules it imported after the fork."""
        r = self._request(w.AUDIT, w.enc_ref(ref), reply=w.MAPPINGS)
        paths = r.strings()
        # A daemon older than the language hosts sends no module list.
        modules = [] if r.at_end else r.strings()
        r.end()
        return Mappings(paths, modules)

    def shutdown(self, wait=False):
        """Stops the daemon; with wait, once the programs clients wait for have ended."""
        self._ok(w.SHUTDOWN, w.enc_u32(1) if wait else b"")

    # --- Programs -----------------------------------------------------------------------

    def spawn(self, args, *, stdin=None, stdout=None, stderr=None, env=None, cwd=None, pass_fds=(), template=None,
              name="", detach=False, call=False, quick_exit=False, keep_control=False, text=False, encoding=None,
              errors=None, inherit_attributes=True):
        """Starts args[0] with args[1:] as if this process had, in one request, and returns
        its Process. stdin, stdout, stderr: None (ours), PIPE, DEVNULL, STDOUT (stderr only),
        a descriptor or a file object. env: the complete environment (default ours; the
        program is found through its PATH). cwd: a path or directory descriptor (default
        ours). pass_fds: descriptors the program gets at their own numbers. template: the
        process object to fork (default: the default template); with call=True, args[0] is a
        function it loaded (see call). inherit_attributes: our umask, nice value and resource
        limits (signals at their defaults), else the template's."""
        if isinstance(args, (str, bytes, os.PathLike)):
            args = [args]
        args = list(args)
        if not args:
            raise ValueError("spawn needs a program")
        d = Descriptors(stdin, stdout, stderr, pass_fds)
        targets = sorted(d.targets)
        own_cwd = None
        conn = None
        try:
            if cwd is None:
                cwd_fd = own_cwd = _current_directory()
            elif isinstance(cwd, int) and not isinstance(cwd, bool):
                cwd_fd = cwd
            else:
                cwd_fd = own_cwd = os.open(cwd, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            flags = w.SPAWN_PIDFD | (w.SPAWN_DETACH if detach else 0)
            attributes = b""
            if inherit_attributes:
                flags |= w.SPAWN_ATTRIBUTES
                attributes = caller_attributes()
            spec = w.run_spec(args[0], args[1:], env=os.environb if env is None else env, cwd=True,
                              keep_control=keep_control, call=call, quick_exit=quick_exit)
            frm = b"" if template is None else (str(template) if isinstance(template, int) else template)
            payload = (w.enc_string(frm) + w.enc_string(name) + w.enc_u32(flags) + w.enc_targets(targets) + spec
                       + attributes)
            conn = self._checkout()
            conn.send_frame(w.SPAWN, payload, [d.targets[t] for t in targets] + [cwd_fd])
            type, r, fds = conn.recv_reply(bounded=True, fds_allowed=True)
            if type != w.CREATED or len(fds) > 1:
                close_all(fds)
                raise ProtocolError("daemon at %s answered a spawn with 0x%02x and %d descriptors"
                                    % (self.path, type, len(fds)))
            id, pid = r.u64(), r.i32()
            r.end()
        except BaseException as e:
            for fd in d.ours.values():
                os.close(fd)
            if conn is not None:
                # A refusal leaves the connection between requests, for the next spawn;
                # anything else leaves it in an unknown state.
                if isinstance(e, ForkctlError) and e.code is not None and not isinstance(e, ProtocolViolation):
                    self._checkin(conn)
                else:
                    conn.close()
            raise
        finally:
            d.close_temporary()
            if own_cwd is not None:
                os.close(own_cwd)
        return Process(self, conn, args, id, pid, fds[0] if fds else None, d.ours, text, encoding, errors)


def _thread_names(r):
    count = r.u32()
    names = r.strings()
    r.end()
    if count != len(names):
        raise ProtocolError("loaded: %d threads, %d names" % (count, len(names)))
    return names
