"""A program started through the daemon, as subprocess.Popen has one.

`Client.spawn` (and `forkctl.spawn`) sends one spawn request (forkctl-protocol(7), 0x0c) on a
connection of its own, which stays attached to the program until its status comes: that
connection is how `wait` learns the status and how `send_signal` reaches the program.
"""

import io
import os
import selectors
import subprocess
import threading
import time

from . import _wire as w
from .errors import ConnectionLost, ProtocolError

PIPE = subprocess.PIPE
STDOUT = subprocess.STDOUT
DEVNULL = subprocess.DEVNULL
TimeoutExpired = subprocess.TimeoutExpired


class Descriptors:
    """What a spawn hands the program: {target: our descriptor}, the parent's ends of pipes,
    and the descriptors opened for it, closed once the request is sent."""

    def __init__(self, stdin, stdout, stderr, pass_fds):
        self.targets = {}
        self.ours = {}  # 0, 1, 2 -> our end of a pipe
        self.temporary = []
        try:
            for n, how in ((0, stdin), (1, stdout), (2, stderr)):
                self._place(n, how)
            for fd in pass_fds:
                self.targets[int(fd)] = int(fd)
        except BaseException:
            self.close_temporary()
            for fd in self.ours.values():
                os.close(fd)
            raise

    def _place(self, n, how):
        if how is None:
            # Ours, when open: a closed standard descriptor is not passed, and the program gets
            # /dev/null there instead.
            try:
                os.fstat(n)
            except OSError:
                return
            self.targets[n] = n
        elif how == PIPE:
            r, wr = os.pipe2(os.O_CLOEXEC)
            child, mine = (r, wr) if n == 0 else (wr, r)
            self.temporary.append(child)
            self.ours[n] = mine
            self.targets[n] = child
        elif how == DEVNULL:
            fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            self.temporary.append(fd)
            self.targets[n] = fd
        elif how == STDOUT:
            if n != 2:
                raise ValueError("STDOUT is only for stderr")
            if 1 in self.targets:
                self.targets[2] = self.targets[1]
        elif isinstance(how, int):
            if how < 0:
                raise ValueError("a descriptor is not negative: %d" % how)
            self.targets[n] = how
        else:
            self.targets[n] = how.fileno()

    def close_temporary(self):
        for fd in self.temporary:
            os.close(fd)
        self.temporary = []


def caller_attributes():
    """This process's umask, nice value and resource limits, with every signal at its default
    action and an empty mask: what the Swift library sends by default, so that the program
    starts as if this process had started it (forkctl-protocol(7), Process attributes)."""
    import resource

    umask = None
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    umask = int(line.split()[1], 8)
    except OSError:
        pass
    if umask is None:
        # Without /proc the umask can only be read by setting it; the race is with threads of
        # this process that create files meanwhile.
        umask = os.umask(0o022)
        os.umask(umask)
    try:
        nice = max(-20, min(19, os.getpriority(os.PRIO_PROCESS, 0)))
    except OSError:
        nice = 0
    limits = []
    for r in range(w.RESOURCE_COUNT):
        try:
            soft, hard = resource.getrlimit(r)
        except (ValueError, OSError):
            continue
        limits.append((r, None if soft == resource.RLIM_INFINITY else soft,
                       None if hard == resource.RLIM_INFINITY else hard))
    return w.process_attributes(umask, nice, limits)


class Process:
    """A running program: `pid`, `pidfd` (a pidfd_open(2) descriptor of it, yours to poll, or
    None), `id` (its process object in the daemon), `returncode` (None while it runs; the
    exit code, or minus the signal that ended it), `status` (a Status), and `stdin`, `stdout`,
    `stderr` as file objects where PIPE was asked.

    Unless spawned with detach=True, dropping it (or closing its client) before `wait` has
    returned ends the program: the daemon sends its process group SIGTERM, then SIGKILL."""

    def __init__(self, client, connection, args, id, pid, pidfd, pipes, text, encoding, errors):
        self.args = args
        self.id = id
        self.pid = pid
        self.pidfd = pidfd
        self.returncode = None
        self.status = None
        self._client = client
        self._connection = connection
        # wait holds _lock while it blocks; signals go under a lock of their own, on the same
        # connection, until the status has come (the connection then serves other spawns).
        self._lock = threading.Lock()
        self._signal_lock = threading.Lock()
        self._attached = connection
        self.stdin = self.stdout = self.stderr = None
        textual = text or encoding is not None or errors is not None
        for n, fd in pipes.items():
            f = io.open(fd, "wb" if n == 0 else "rb", -1)
            if textual:
                f = io.TextIOWrapper(f, encoding=encoding, errors=errors, write_through=(n == 0))
            setattr(self, ("stdin", "stdout", "stderr")[n], f)

    def __repr__(self):
        return "<forkctl.Process id=%d pid=%d returncode=%s args=%r>" % (self.id, self.pid, self.returncode, self.args)

    def _take_status(self, status):
        self.status = status
        self.returncode = status.returncode
        connection, self._connection = self._connection, None
        with self._signal_lock:
            self._attached = None
        # Between requests again: the connection can serve the next spawn.
        self._client._checkin(connection)

    def poll(self):
        """The returncode if the program has ended, else None, without waiting."""
        return self._wait(0.0)

    def wait(self, timeout=None):
        """Waits for the program to end (at most `timeout` seconds: then TimeoutExpired) and
        returns its returncode."""
        if self._wait(timeout) is None:
            raise TimeoutExpired(self.args, timeout)
        return self.returncode

    def _wait(self, timeout):
        with self._lock:
            if self.returncode is not None:
                return self.returncode
            c = self._connection
            if c is None:
                raise ConnectionLost("the connection of process %d was lost" % self.id)
            if timeout is not None and not c.wait_readable(timeout):
                return None
            try:
                r = c.expect(w.STATUSES, bounded=False)
                [(_, status)] = read_statuses(r)
            except BaseException:
                self._connection = None
                with self._signal_lock:
                    self._attached = None
                c.close()
                raise
            self._take_status(status)
            return self.returncode

    def send_signal(self, sig):
        """Sends `sig` to the program's process group (it leads one), through the daemon;
        nothing once it has ended."""
        with self._signal_lock:
            if self._attached is not None:
                self._attached.send_frame(w.SIGNAL, w.enc_i32(int(sig)))

    def terminate(self):
        import signal
        self.send_signal(signal.SIGTERM)

    def kill(self):
        import signal
        self.send_signal(signal.SIGKILL)

    def communicate(self, input=None, timeout=None):
        """Sends `input` to stdin (then closes it), reads stdout and stderr to their end, waits
        for the program; returns (stdout, stderr), None for a stream that is not a pipe."""
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = {}
        with selectors.DefaultSelector() as sel:
            if self.stdin is not None:
                if input:
                    data = input.encode(self.stdin.encoding, self.stdin.errors) \
                        if isinstance(self.stdin, io.TextIOWrapper) else bytes(input)
                    self.stdin.flush()
                    raw = self.stdin.buffer if isinstance(self.stdin, io.TextIOWrapper) else self.stdin
                    sel.register(raw.fileno(), selectors.EVENT_WRITE, ("in", memoryview(data)))
                else:
                    self.stdin.close()
            for name in ("stdout", "stderr"):
                f = getattr(self, name)
                if f is not None:
                    chunks[name] = []
                    sel.register(f.fileno(), selectors.EVENT_READ, (name, None))
            while sel.get_map():
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                events = sel.select(left)
                if not events and deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutExpired(self.args, timeout)
                for key, _ in events:
                    name, data = key.data
                    if name == "in":
                        try:
                            n = os.write(key.fd, data[:65536])
                        except BrokenPipeError:
                            n = len(data)
                        data = data[n:]
                        if data:
                            sel.modify(key.fd, selectors.EVENT_WRITE, ("in", data))
                        else:
                            sel.unregister(key.fd)
                            self.stdin.close()
                    else:
                        chunk = os.read(key.fd, 65536)
                        if chunk:
                            chunks[name].append(chunk)
                        else:
                            sel.unregister(key.fd)
        out = []
        for name in ("stdout", "stderr"):
            f = getattr(self, name)
            if f is None:
                out.append(None)
                continue
            data = b"".join(chunks[name])
            if isinstance(f, io.TextIOWrapper):
                data = io.TextIOWrapper(io.BytesIO(data), encoding=f.encoding, errors=f.errors).read()
            f.close()
            out.append(data)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        return tuple(out)

    def close(self):
        """Closes the pipes and the pidfd; the connection too, which ends the program if it
        still runs and was not detached."""
        for f in (self.stdin, self.stdout, self.stderr):
            if f is not None:
                f.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        with self._signal_lock:
            self._attached = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for f in (self.stdout, self.stderr):
            if f is not None:
                f.close()
        if self.stdin is not None:
            try:
                self.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.wait()
        finally:
            self.close()

    def __del__(self):
        pidfd = getattr(self, "pidfd", None)
        if pidfd is not None:
            try:
                os.close(pidfd)
            except OSError:
                pass


def read_statuses(r):
    out = [(r.u64(), r.status()) for _ in range(r.u32())]
    r.end()
    for _, s in out:
        if s.tag == w.Status.NONE:
            raise ProtocolError("statuses entry with tag 0")
    return out
