"""Finding the daemon, starting it when none answers, and frames over one connection.

The rules are those of the Swift library (Sources/ForkctlClient/DaemonStarter.swift and
ForkctlConnection.swift), so that Python programs, the CLI and Swift programs share one daemon.
"""

import array
import fcntl
import os
import select
import signal
import socket
import stat
import struct
import time

from . import _wire as w
from .errors import ConnectionClosed, ConnectionLost, DaemonUnavailable, ForkctlError, ProtocolError, error_for

_FD_SIZE = array.array("i").itemsize
# The bound when FORKCTL_TIMEOUT is not set, as ForkctlConnection.defaultTimeoutMilliseconds.
DEFAULT_TIMEOUT = 30.0
# Longest path a sockaddr_un holds (unix(7)), and the longest a daemon can listen on: it binds
# PATH.PID.new first and renames it into place, and a pid has up to 7 digits.
_MAX_PATH = 107
_MAX_LISTENING_PATH = _MAX_PATH - len(".4194304.new")


def _shared_socket_directory():
    return "/tmp/forkctl-%d" % os.getuid()


def default_socket_path():
    """$FORKCTL_SOCKET, else $XDG_RUNTIME_DIR/forkctl/sock, else /tmp/forkctl-UID/sock, unless
    another user took /tmp/forkctl-UID first (a directory not ours, or a symbolic link: anyone
    may create it in the sticky /tmp), then $HOME/.forkctl/sock."""
    s = os.environ.get("FORKCTL_SOCKET")
    if s:
        return s
    x = os.environ.get("XDG_RUNTIME_DIR")
    if x:
        return x + "/forkctl/sock"
    shared = _shared_socket_directory()
    try:
        st = os.lstat(shared)
    except OSError:
        st = None
    home = os.environ.get("HOME", "")
    if st is not None and (not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid()) and home.startswith("/"):
        return home + "/.forkctl/sock"
    return shared + "/sock"


def timeout_from_environment():
    """How long a client waits for the daemon, in seconds, None for ever: FORKCTL_TIMEOUT
    seconds (0: for ever), else 30."""
    text = os.environ.get("FORKCTL_TIMEOUT")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise DaemonUnavailable("FORKCTL_TIMEOUT=%s is not a number of seconds from 0 to 86400" % text)
    return None if seconds == 0 else max(0.001, seconds)


def _seconds(timeout):
    return ("%g" % timeout) if timeout is not None else "unbounded"


def daemon_executable(executable=None):
    """The forkctl executable that starts a daemon: `executable`, else $FORKCTL_EXECUTABLE, else
    forkctl in $PATH; None when there is none."""
    if executable:
        return os.fspath(executable)
    e = os.environ.get("FORKCTL_EXECUTABLE")
    if e:
        return e
    for d in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
        candidate = "%s/forkctl" % d
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _describe(e):
    return os.strerror(e.errno) if isinstance(e, OSError) and e.errno else str(e)


def _connect_socket(path, timeout):
    """A connected socket, close-on-exec, or OSError. As the Swift library's, it keeps
    SO_SNDTIMEO and SO_RCVTIMEO at the bound for its life: a connect to a daemon whose
    backlog stays full fails with EAGAIN (unix(7)), and so does a frame that stops arriving
    midway."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        if timeout is not None:
            whole = int(timeout)
            micro = int(round((timeout - whole) * 1e6))
            # A zero timeval would mean no bound at all (socket(7)).
            bound = struct.pack("ll", whole, micro if whole or micro else 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, bound)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, bound)
        s.connect(path)
    except BaseException:
        s.close()
        raise
    return s


def _connect_failure(path, e, timeout, after=""):
    if isinstance(e, BlockingIOError):
        why = ("it accepted no connection within %s s (is it stopped? FORKCTL_TIMEOUT sets this bound)"
               % _seconds(timeout))
    else:
        why = _describe(e)
    return DaemonUnavailable("cannot connect to daemon at %s%s: %s" % (path, after, why))


def _check_peer(sock, path):
    """Refuses a daemon that runs as neither this user nor root (nor FORKCTL_DAEMON_UID): it
    would get this process's descriptors, environment and programs to run."""
    try:
        _, uid, _ = struct.unpack("iII", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError as e:
        raise DaemonUnavailable("cannot tell who serves %s (SO_PEERCRED): %s" % (path, _describe(e)))
    own = os.getuid()
    trusted = os.environ.get("FORKCTL_DAEMON_UID", "")
    if uid in (own, 0) or (trusted.isdigit() and uid == int(trusted)):
        return
    raise DaemonUnavailable(
        "refusing the daemon at %s: it runs as uid %d, neither this user (uid %d) nor root, and would get this "
        "process's descriptors and environment; check FORKCTL_SOCKET and XDG_RUNTIME_DIR, or use a socket path of "
        "your own (FORKCTL_DAEMON_UID=%d trusts that user's daemon, one that admits you with --allow-uid)"
        % (path, uid, own, uid))


def connect(path, *, auto_start=True, executable=None, timeout=DEFAULT_TIMEOUT):
    """A socket connected to the daemon at `path`, starting one when none answers and
    `auto_start`. Two clients racing end with one daemon: starters lock PATH.start.lock."""
    n = len(os.fsencode(path))
    if n > _MAX_LISTENING_PATH:
        raise DaemonUnavailable(
            "cannot connect to daemon: socket path %s is %d bytes, more than the %d a daemon can listen on "
            "(a Unix socket address holds %d, and the daemon binds PATH.PID.new first)"
            % (path, n, _MAX_LISTENING_PATH, _MAX_PATH))
    try:
        sock = _connect_socket(path, timeout)
    except (FileNotFoundError, ConnectionRefusedError) as e:
        if not auto_start:
            raise _connect_failure(path, e, timeout)
        sock = _start(path, executable, timeout)
    except OSError as e:
        raise _connect_failure(path, e, timeout)
    try:
        _check_peer(sock, path)
    except BaseException:
        sock.close()
        raise
    return sock


def _make_private_directory(path):
    """Creates `path` 0700, or checks that an existing one is ours and closed to others."""
    created = True
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        created = False
    except OSError as e:
        raise DaemonUnavailable("cannot start daemon: cannot create directory %s: %s" % (path, _describe(e)))
    st = os.lstat(path)
    advice = ""
    if st.st_uid != os.getuid() or stat.S_ISLNK(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode) \
            else "a file"
        home = "; with HOME set, forkctl uses $HOME/.forkctl/sock instead" \
            if path == _shared_socket_directory() else ""
        advice = ("; it is %s of uid %d, which another user can create first to lock you out or to serve your "
                  "connections: set FORKCTL_SOCKET to a path in a directory of your own, or have root remove it%s"
                  % (what, st.st_uid, home))
    if not stat.S_ISDIR(st.st_mode):
        raise DaemonUnavailable("cannot start daemon: %s exists and is not a directory%s" % (path, advice))
    if st.st_uid != os.getuid():
        raise DaemonUnavailable("cannot start daemon: directory %s belongs to uid %d, not to us%s"
                                % (path, st.st_uid, advice))
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o066 or mode & 0o700 != 0o700:
        raise DaemonUnavailable("cannot start daemon: directory %s has mode %o; it must be 0700" % (path, mode))
    # mkdir's mode went through the umask.
    if created and mode != 0o700:
        os.chmod(path, 0o700)


def _lock(fd, timeout):
    """flock(2) LOCK_EX within `timeout` seconds (None: blocking); False when another holder
    kept it that long. flock has no timeout of its own: a held lock is tried every 10 ms."""
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.01))


def _start(path, executable, timeout):
    d = os.path.dirname(path) or "."
    _make_private_directory(d)
    try:
        lock = os.open(path + ".start.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise DaemonUnavailable("cannot lock %s.start.lock: %s" % (path, _describe(e)))
    try:
        # Another client may be starting the daemon: its start is bounded, but it may be
        # stopped or wedged, so this wait is bounded too.
        if not _lock(lock, timeout):
            raise DaemonUnavailable(
                "cannot start the daemon at %s: another process held %s.start.lock for %s s (FORKCTL_TIMEOUT) while "
                "starting one; see who holds it with fuser %s.start.lock" % (path, path, _seconds(timeout), path))
        try:
            return _connect_socket(path, timeout)
        except OSError:
            pass
        _spawn_daemon(path, executable, timeout)
        try:
            return _connect_socket(path, timeout)
        except OSError as e:
            raise _connect_failure(path, e, timeout, " after starting it")
    finally:
        os.close(lock)


def _inheritable_descriptors():
    """Our descriptors that an exec would keep: posix_spawn closes them in the daemon, which
    must hold nothing of ours."""
    out = []
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return out
    for name in names:
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    out.append(fd)
            except OSError:
                pass
    return out


def _spawn_daemon(path, executable, timeout):
    """Starts `forkctl daemon` in the background and waits for it to say it is listening."""
    exe = daemon_executable(executable)
    if exe is None:
        raise DaemonUnavailable(
            "cannot start daemon for %s: no forkctl executable (set FORKCTL_EXECUTABLE or put forkctl in PATH)" % path)
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            log = os.open(path + ".log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise DaemonUnavailable("cannot start daemon for %s: cannot open %s.log: %s" % (path, path, _describe(e)))
        try:
            # As Sys.posixSpawn: /dev/null on 0 and 1, the log on 2, the ready pipe on 3 and
            # nothing else, default signal actions, an empty mask, a session of its own.
            # The actions run in order: the sources live above 2 and 3 (a caller with its
            # standard descriptors closed gets low numbers from pipe2 and open), so that no
            # dup2 overwrites another's source.
            for fd in (log, ready_w):
                if fd <= 3:
                    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
                    os.close(fd)
                    log, ready_w = (moved, ready_w) if fd == log else (log, moved)
            actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                       (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                       (os.POSIX_SPAWN_DUP2, log, 2), (os.POSIX_SPAWN_DUP2, ready_w, 3)]
            actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_descriptors() if fd != 3]
            defaults = signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}
            pid = os.posix_spawn(
                exe, ["forkctl", "daemon", "--socket", path, "--ready-fd", "3", "--background"], {},
                file_actions=actions, setsigmask=(), setsigdef=defaults, setsid=True)
        except OSError as e:
            raise DaemonUnavailable("cannot start daemon for %s: posix_spawn: %s" % (path, _describe(e)))
        finally:
            os.close(log)
        os.close(ready_w)
        ready_w = -1
        # The ready line (or end of file) first: the parent half waits for it before it exits.
        readable, _, _ = select.select([ready_r], [], [], timeout)
        if not readable:
            # It is stuck before it could listen; no zombie of it may be left in a long-lived client.
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise DaemonUnavailable(
                "cannot start daemon for %s: it did not say it was ready within %s s (see %s.log; FORKCTL_TIMEOUT "
                "sets this bound)" % (path, _seconds(timeout), path))
        # The daemon forks once into the background; reap the parent half.
        os.waitpid(pid, 0)
        answer = b""
        while len(answer) < 4096:
            chunk = os.read(ready_r, 4096 - len(answer))
            if not chunk:
                break
            answer += chunk
    finally:
        os.close(ready_r)
        if ready_w >= 0:
            os.close(ready_w)
    if answer == b"ready\n" or (answer.startswith(b"error running ") and answer.endswith(b"\n")):
        return  # running: another daemon won the race
    if answer.startswith(b"error failed ") and answer.endswith(b"\n"):
        message = answer[len(b"error failed "):-1].decode("utf-8", "replace")
    else:
        message = "it exited without a word (see %s.log)" % path
    raise DaemonUnavailable("cannot start daemon for %s: %s" % (path, message))


def close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class Connection:
    """Frames over one connection to the daemon: send_frame and recv_frame, descriptors
    included. `socket`: the daemon's socket path (default_socket_path()); `auto_start`: start
    a daemon when none answers, with `executable` (else $FORKCTL_EXECUTABLE, else forkctl in
    PATH); `timeout`: seconds the connect, a start and each reply that does not wait for a
    program may take (None for ever; default FORKCTL_TIMEOUT, else 30)."""

    def __init__(self, socket=None, *, auto_start=True, executable=None, timeout=-1.0):
        self.path = os.fspath(socket) if socket is not None else default_socket_path()
        self.timeout = timeout_from_environment() if timeout == -1.0 else timeout
        self.sock = connect(self.path, auto_start=auto_start, executable=executable, timeout=self.timeout)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def fileno(self):
        return self.sock.fileno()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _require_open(self):
        if self.sock is None:
            raise ConnectionLost("the connection to the daemon at %s is closed" % self.path)

    def send_frame(self, type, payload=b"", fds=(), *, version=w.VERSION, fd_count=None):
        """Sends one frame; its descriptors go with the first sendmsg(2), whose bytes all
        belong to this frame; the rest, if the kernel took only part, without control data.
        `version` and `fd_count` can be overridden, to provoke violations."""
        self._require_open()
        fds = list(fds)
        if len(fds) > w.MAX_FDS:
            raise ValueError("a frame carries at most %d descriptors" % w.MAX_FDS)
        if len(payload) > w.MAX_PAYLOAD:
            raise ValueError("a payload is at most %d bytes" % w.MAX_PAYLOAD)
        count = len(fds) if fd_count is None else fd_count
        data = memoryview(w.HEADER.pack(version, type, count, len(payload)) + bytes(payload))
        ancillary = []
        if fds:
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        try:
            sent = self.sock.sendmsg([data], ancillary, socket.MSG_NOSIGNAL)
            while sent < len(data):
                sent += self.sock.send(data[sent:], socket.MSG_NOSIGNAL)
        except (BrokenPipeError, ConnectionResetError) as e:
            # A daemon that refused the connection (SO_PEERCRED, --max-connections) replied
            # before any request and closed it: that refusal is the reason.
            try:
                kind, payload, received = self.recv_frame()
            except ForkctlError:
                kind, received = None, []
            close_all(received)
            if kind == w.FAILURE:
                r = w.Reader(payload)
                raise error_for(r.u16(), r.string().decode("utf-8", "replace"))
            raise ConnectionLost("cannot send to daemon at %s: %s" % (self.path, _describe(e)))
        except OSError as e:
            raise ConnectionLost("cannot send to daemon at %s: %s" % (self.path, _describe(e)))

    def _recv_exact(self, n, fds):
        """Exactly n bytes, never asking for more; descriptors that came are appended to fds."""
        buf = bytearray()
        space = socket.CMSG_SPACE(w.MAX_FDS * _FD_SIZE)
        while len(buf) < n:
            try:
                data, ancdata, flags, _ = self.sock.recvmsg(n - len(buf), space, socket.MSG_CMSG_CLOEXEC)
            except ConnectionResetError:
                # The daemon closed the connection with bytes of ours unread (after a
                # violation it does not read the rest): Linux reports ECONNRESET, after
                # everything the daemon sent, instead of end of file.
                data, ancdata, flags = b"", [], 0
            except BlockingIOError:
                # SO_RCVTIMEO ran out in the middle of a frame.
                close_all(fds)
                raise self._not_answering()
            except OSError as e:
                close_all(fds)
                raise ConnectionLost("cannot read from daemon at %s: %s" % (self.path, _describe(e)))
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    whole = len(cdata) - len(cdata) % _FD_SIZE
                    fds.extend(array.array("i", cdata[:whole]))
            if flags & socket.MSG_CTRUNC:
                close_all(fds)
                raise ProtocolError("daemon at %s sent more descriptors than a frame holds" % self.path)
            if not data:
                close_all(fds)
                if buf:
                    raise ProtocolError("daemon at %s closed the connection within a frame" % self.path)
                raise ConnectionClosed("daemon at %s closed the connection" % self.path)
            buf += data
        return bytes(buf)

    def _not_answering(self):
        return DaemonUnavailable("daemon at %s did not answer within %s s (is it stopped? FORKCTL_TIMEOUT sets this "
                                 "bound)" % (self.path, _seconds(self.timeout)))

    def wait_readable(self, timeout):
        """Whether a frame starts to arrive (or the connection ends) within `timeout` seconds
        (None: for ever)."""
        self._require_open()
        p = select.poll()
        p.register(self.sock, select.POLLIN)
        return bool(p.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999))))

    def recv_frame(self, bounded=False):
        """One whole frame: (type, payload, fds). The caller owns the descriptors. With
        `bounded`, the frame must start within the connection's timeout; without, it may take
        for ever (a reply that waits for a program to end)."""
        self._require_open()
        if not self.wait_readable(self.timeout if bounded else None):
            raise self._not_answering()
        fds = []
        version, type, count, length = w.HEADER.unpack(self._recv_exact(w.HEADER.size, fds))
        if version != w.VERSION:
            close_all(fds)
            raise ProtocolError("daemon at %s sent a frame of version %d" % (self.path, version))
        if count > w.MAX_FDS or length > w.MAX_PAYLOAD:
            close_all(fds)
            raise ProtocolError("daemon at %s sent a frame header out of range: %d descriptors, %d bytes"
                                % (self.path, count, length))
        payload = self._recv_exact(length, fds) if length else b""
        if len(fds) != count:
            close_all(fds)
            raise ProtocolError("daemon at %s: a frame declares %d descriptors, %d came" % (self.path, count, len(fds)))
        return type, payload, fds

    def recv_reply(self, bounded=True, fds_allowed=False):
        """One reply frame: (type, Reader), or with `fds_allowed` (type, Reader, fds). A
        failure reply raises its ForkctlError subclass; descriptors a reply may not carry
        are closed and the frame refused."""
        type, payload, fds = self.recv_frame(bounded)
        if fds and not (fds_allowed and type == w.CREATED):
            close_all(fds)
            raise ProtocolError("daemon at %s: reply 0x%02x came with %d descriptors" % (self.path, type, len(fds)))
        r = w.Reader(payload)
        if type == w.FAILURE:
            code = r.u16()
            message = r.string()
            r.end()
            raise error_for(code, message.decode("utf-8", "replace"))
        if type not in w.REPLIES:
            raise ProtocolError("daemon at %s sent an unknown reply type 0x%02x" % (self.path, type))
        return (type, r, fds) if fds_allowed else (type, r)

    def expect(self, wanted, bounded=True):
        type, r = self.recv_reply(bounded)
        if type != wanted:
            raise ProtocolError("daemon at %s: expected reply 0x%02x, got 0x%02x" % (self.path, wanted, type))
        return r
