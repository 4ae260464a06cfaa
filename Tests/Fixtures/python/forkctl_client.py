"""A forkctl client written from forkctl-protocol(7) alone, with the standard library only.

Every message is a frame: an 8-byte header (u8 version 1, u8 type, u16 descriptor count,
u32 payload length; little-endian) and the payload. Descriptors travel as one SCM_RIGHTS
control message with bytes of their own frame. Reads never go past the end of a frame, so
that descriptors are attributed to the frame they came with.

    with Client() as c:                       # $FORKCTL_SOCKET, $XDG_RUNTIME_DIR/forkctl/sock, ...
        wid, pid = c.new()
        c.send_fds(wid, [1], [1])
        c.run(wid, "echo", ["hi"])
        [(i, status)] = c.wait([wid])         # status.exited, status.code, str(status) "exited:0"

A failure reply raises ForkctlError(code, message); a reply the protocol does not allow, or
a connection the daemon closed, raises ProtocolError.
"""

import array
import os
import socket
import struct

VERSION = 1

# Requests (client to daemon).
HELLO = 0x01
NEW = 0x02
EXEC = 0x03
FORK = 0x04
SEND_FDS = 0x05
SEND_ARGS = 0x06
RUN = 0x07
WAIT = 0x08
KILL = 0x09
LIST = 0x0A
SHUTDOWN = 0x0B
SPAWN = 0x0C
SIGNAL = 0x0D
FORGET = 0x0E
PRUNE = 0x0F
LOAD = 0x10
MEMORY = 0x11
AUDIT = 0x12

# Replies (daemon to client).
OK = 0x40
CREATED = 0x41
FAILURE = 0x42
STATUSES = 0x43
LISTING = 0x44
WELCOME = 0x45
LOADED = 0x46
MEMORY_REPLY = 0x47
MAPPINGS = 0x48

# Run spec flags.
RUN_KEEP_CONTROL = 1
RUN_CWD = 2
RUN_ENV = 4
RUN_WAIT = 8
RUN_DETACH = 64  # request 0x07 only: forget the process object once it has exited
RUN_CALL = 128  # the program string names a function of a library the process object loaded
RUN_QUICK_EXIT = 256  # with RUN_CALL: _exit(2) instead of exit(3)

# Load flags.
LOAD_GLOBAL = 1
LOAD_CWD = 2

# Spawn flags.
SPAWN_DETACH = 1

# Error codes of failure replies.
UNKNOWN_PROCESS = 1
WRONG_STATE = 2
BAD_REQUEST = 3
LIMIT_REACHED = 4
TEMPLATE_FAILED = 5
PROGRAM_NOT_FOUND = 6
PROGRAM_NOT_EXECUTABLE = 7
EXEC_FAILED = 8
PERMISSION_DENIED = 9
INTERNAL_ERROR = 10
PROTOCOL_ERROR = 11
SHUTTING_DOWN = 12
NAME_IN_USE = 13
LOAD_FAILED = 16
SYMBOL_NOT_FOUND = 17

ERROR_NAMES = {
    1: "unknown process", 2: "wrong state", 3: "bad request", 4: "limit reached",
    5: "template failed", 6: "program not found", 7: "program not executable",
    8: "exec failed", 9: "permission denied", 10: "internal error", 11: "protocol error",
    12: "shutting down", 13: "name in use", 14: "working directory failed", 15: "still running",
    16: "load failed", 17: "symbol not found",
}

HEADER = struct.Struct("<BBHI")
MAX_PAYLOAD = 4 * 1024 * 1024
MAX_FDS = 64
MAX_LIST = 65536
_FD_SIZE = array.array("i").itemsize


class ForkctlError(Exception):
    """A failure reply: `code` (see ERROR_NAMES) and `message`, text for a person."""

    def __init__(self, code, message):
        super().__init__("forkctl error %d (%s): %s" % (code, ERROR_NAMES.get(code, "?"), message))
        self.code = code
        self.message = message


class ProtocolError(Exception):
    """The daemon sent something the protocol does not allow, or closed the connection."""


class ConnectionClosed(ProtocolError):
    """End of file from the daemon."""


class Status:
    """How a process ended: tag 0 none yet, 1 exited (value: exit code), 2 killed by
    signal `value`, 3 killed by signal `value` with a core dump."""

    NONE, EXITED, SIGNALED, CORE = 0, 1, 2, 3

    def __init__(self, tag, value):
        if tag not in (0, 1, 2, 3):
            raise ProtocolError("unknown status tag %d" % tag)
        self.tag = tag
        self.value = value

    @property
    def exited(self):
        return self.tag == Status.EXITED

    @property
    def code(self):
        return self.value if self.tag == Status.EXITED else None

    @property
    def signal(self):
        return self.value if self.tag in (Status.SIGNALED, Status.CORE) else None

    def __eq__(self, other):
        return isinstance(other, Status) and (self.tag, self.value) == (other.tag, other.value)

    def __hash__(self):
        return hash((self.tag, self.value))

    def __str__(self):
        name = {0: "none", 1: "exited", 2: "signaled", 3: "core"}[self.tag]
        return name if self.tag == 0 else "%s:%d" % (name, self.value)

    __repr__ = __str__


class Entry:
    """One entry of a listing."""

    ROLES = {0: "template", 1: "default-template", 2: "process"}
    STATES = {0: "starting", 1: "ready", 2: "running", 3: "exited"}

    def __init__(self, id, name, role, parent, pid, state, status, fds, strings, program):
        self.id, self.name, self.role, self.parent, self.pid = id, name, role, parent, pid
        self.state, self.status, self.fds, self.strings, self.program = state, status, fds, strings, program

    def __repr__(self):
        return "Entry(id=%d, name=%r, role=%s, parent=%d, pid=%d, state=%s, status=%s, fds=%d, strings=%d, program=%r)" % (
            self.id, self.name, Entry.ROLES[self.role], self.parent, self.pid, Entry.STATES[self.state],
            self.status, self.fds, self.strings, self.program)


# --- Encoding ---------------------------------------------------------------------------

def _octets(s):
    """bytes as they are; str through the file system encoding (surrogateescape)."""
    if isinstance(s, (bytes, bytearray, memoryview)):
        return bytes(s)
    if isinstance(s, str):
        return os.fsencode(s)
    raise TypeError("expected bytes or str, not %s" % type(s).__name__)


def enc_u8(v):
    return struct.pack("<B", v)


def enc_u32(v):
    return struct.pack("<I", v)


def enc_i32(v):
    return struct.pack("<i", v)


def enc_string(s):
    b = _octets(s)
    return enc_u32(len(b)) + b


def enc_list(items):
    items = list(items)
    if len(items) > MAX_LIST:
        raise ValueError("a list holds at most %d strings" % MAX_LIST)
    return enc_u32(len(items)) + b"".join(enc_string(i) for i in items)


def enc_ref(ref):
    """A process object: an int id, or a name (bytes or str; all digits is an id)."""
    if isinstance(ref, int):
        if ref < 0:
            raise ValueError("an id is not negative")
        return enc_string(str(ref).encode())
    return enc_string(ref)


def enc_targets(targets):
    for t in targets:
        if not -1 <= t <= 1023:
            raise ValueError("a target is -1 or 0 to 1023, not %d" % t)
    return enc_u32(len(targets)) + b"".join(enc_i32(t) for t in targets)


def enc_environment(env):
    """A mapping (bytes or str keys and values) or a sequence of b"NAME=value" strings."""
    if hasattr(env, "items"):
        return enc_list(_octets(k) + b"=" + _octets(v) for k, v in env.items())
    return enc_list(env)


def run_spec(program, args=(), *, env=None, cwd=False, keep_control=False, wait=False, detach=False,
             call=False):
    """The run spec: u32 flags, string program, list arguments, [list environment]."""
    flags = RUN_CALL if call else 0
    if keep_control:
        flags |= RUN_KEEP_CONTROL
    if cwd:
        flags |= RUN_CWD
    if env is not None:
        flags |= RUN_ENV
    if wait:
        flags |= RUN_WAIT
    if detach:
        flags |= RUN_DETACH
    out = enc_u32(flags) + enc_string(program) + enc_list(args)
    if env is not None:
        out += enc_environment(env)
    return out


class Reader:
    """Decodes a payload field by field; `end()` requires that nothing is left over."""

    def __init__(self, payload):
        self.b = payload
        self.i = 0

    def take(self, n):
        if self.i + n > len(self.b):
            raise ProtocolError("payload too short")
        out = self.b[self.i:self.i + n]
        self.i += n
        return out

    def unpack(self, fmt):
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size))

    def u8(self):
        return self.unpack("B")[0]

    def u16(self):
        return self.unpack("H")[0]

    def u32(self):
        return self.unpack("I")[0]

    def u64(self):
        return self.unpack("Q")[0]

    def i32(self):
        return self.unpack("i")[0]

    def string(self):
        return self.take(self.u32())

    def status(self):
        tag, value = self.unpack("Bi")
        return Status(tag, value)

    def end(self):
        if self.i != len(self.b):
            raise ProtocolError("payload longer than its layout: %d bytes left" % (len(self.b) - self.i))


# --- Framing ----------------------------------------------------------------------------

def default_socket_path():
    """$FORKCTL_SOCKET, else $XDG_RUNTIME_DIR/forkctl/sock, else /tmp/forkctl-UID/sock."""
    p = os.environ.get("FORKCTL_SOCKET")
    if p:
        return p
    x = os.environ.get("XDG_RUNTIME_DIR")
    if x:
        return os.path.join(x, "forkctl", "sock")
    return "/tmp/forkctl-%d/sock" % os.getuid()


def _close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class Connection:
    """Frames over one connection: send_frame and recv_frame, descriptors included."""

    def __init__(self, path=None):
        self.path = path or default_socket_path()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            self.sock.connect(self.path)
        except BaseException:
            self.sock.close()
            raise

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_frame(self, type, payload=b"", fds=(), *, version=VERSION, fd_count=None):
        """Sends one frame; its descriptors go with the first sendmsg(2), whose bytes all
        belong to this frame; the rest, if the kernel took only part, without control data.
        `version` and `fd_count` can be overridden, to provoke violations."""
        fds = list(fds)
        if len(fds) > MAX_FDS:
            raise ValueError("a frame carries at most %d descriptors" % MAX_FDS)
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("a payload is at most %d bytes" % MAX_PAYLOAD)
        count = len(fds) if fd_count is None else fd_count
        data = memoryview(HEADER.pack(version, type, count, len(payload)) + bytes(payload))
        ancillary = []
        if fds:
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sent = self.sock.sendmsg([data], ancillary)
        while sent < len(data):
            sent += self.sock.send(data[sent:])

    def _recv_exact(self, n, fds):
        """Exactly n bytes, never asking for more; descriptors that came are appended to fds."""
        buf = bytearray()
        space = socket.CMSG_SPACE(MAX_FDS * _FD_SIZE)
        while len(buf) < n:
            try:
                data, ancdata, flags, _ = self.sock.recvmsg(n - len(buf), space, socket.MSG_CMSG_CLOEXEC)
            except ConnectionResetError:
                # The daemon closed the connection with bytes of ours unread (after a
                # violation it does not read the rest): Linux reports ECONNRESET, after
                # everything the daemon sent, instead of end of file.
                data, ancdata, flags = b"", [], 0
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    whole = len(cdata) - len(cdata) % _FD_SIZE
                    fds.extend(array.array("i", cdata[:whole]))
            if flags & socket.MSG_CTRUNC:
                _close_all(fds)
                raise ProtocolError("control data truncated")
            if not data:
                _close_all(fds)
                if buf:
                    raise ProtocolError("connection closed within a frame")
                raise ConnectionClosed("connection closed by the daemon")
            buf += data
        return bytes(buf)

    def recv_frame(self):
        """One whole frame: (type, payload, fds). The caller owns the descriptors."""
        fds = []
        version, type, count, length = HEADER.unpack(self._recv_exact(HEADER.size, fds))
        if version != VERSION:
            _close_all(fds)
            raise ProtocolError("frame version %d" % version)
        if count > MAX_FDS or length > MAX_PAYLOAD:
            _close_all(fds)
            raise ProtocolError("frame header out of range: %d descriptors, %d bytes" % (count, length))
        payload = self._recv_exact(length, fds) if length else b""
        if len(fds) != count:
            _close_all(fds)
            raise ProtocolError("frame declares %d descriptors, %d came" % (count, len(fds)))
        return type, payload, fds

    def recv_reply(self):
        """One reply frame: (type, Reader). Replies carry no descriptor: any that arrive are
        closed, and the frame is refused. A failure reply raises ForkctlError."""
        type, payload, fds = self.recv_frame()
        if fds:
            _close_all(fds)
            raise ProtocolError("reply 0x%02x came with %d descriptors" % (type, len(fds)))
        r = Reader(payload)
        if type == FAILURE:
            code = r.u16()
            message = r.string()
            r.end()
            raise ForkctlError(code, message.decode("utf-8", "replace"))
        if type not in (OK, CREATED, STATUSES, LISTING, WELCOME, LOADED, MEMORY_REPLY, MAPPINGS):
            raise ProtocolError("unknown reply type 0x%02x" % type)
        return type, r

    def expect(self, wanted):
        type, r = self.recv_reply()
        if type != wanted:
            raise ProtocolError("expected reply 0x%02x, got 0x%02x" % (wanted, type))
        return r


# --- Requests ---------------------------------------------------------------------------

class Client(Connection):
    """The requests of forkctl-protocol(7), one method each. A failure reply raises
    ForkctlError. wait, spawn and run(wait=True) hold the connection until the processes
    end: use another Client for other requests meanwhile."""

    def _ok(self):
        self.expect(OK).end()

    def _created(self):
        r = self.expect(CREATED)
        id, pid = r.u64(), r.i32()
        r.end()
        return id, pid

    def _statuses(self):
        r = self.expect(STATUSES)
        out = [(r.u64(), r.status()) for _ in range(r.u32())]
        r.end()
        for _, s in out:
            if s.tag == Status.NONE:
                raise ProtocolError("statuses entry with tag 0")
        return out

    def hello(self):
        """-> (protocol version, daemon pid)."""
        self.send_frame(HELLO, enc_u8(VERSION))
        r = self.expect(WELCOME)
        version, pid = r.u8(), r.i32()
        r.end()
        return version, pid

    def new(self, name=b""):
        """Forks a process object from the default template. -> (id, pid)."""
        self.send_frame(NEW, enc_string(name))
        return self._created()

    def exec(self, name=b""):
        """Starts a fresh template. -> (id, pid)."""
        self.send_frame(EXEC, enc_string(name))
        return self._created()

    def fork(self, ref, name=b""):
        """Forks a process object that has not run. -> (id, pid)."""
        self.send_frame(FORK, enc_ref(ref) + enc_string(name))
        return self._created()

    def send_fds(self, ref, fds, targets=None):
        """Sends descriptors (ours stay open); targets default to -1 (lowest free)."""
        fds = list(fds)
        targets = [-1] * len(fds) if targets is None else list(targets)
        if not fds or len(targets) != len(fds):
            raise ValueError("send_fds needs at least one descriptor and one target each")
        self.send_frame(SEND_FDS, enc_ref(ref) + enc_targets(targets), fds)
        self._ok()

    def send_args(self, ref, strings):
        self.send_frame(SEND_ARGS, enc_ref(ref) + enc_list(strings))
        self._ok()

    def run(self, ref, program, args=(), *, cwd_fd=None, env=None, wait=False, keep_control=False, detach=False,
            call=False):
        """Runs program in ref (with call=True, calls the function of that name in a library
        ref loaded). cwd_fd: a directory descriptor (O_PATH will do), not closed here. env: the
        complete environment, or None for the process object's own.
        -> None once execve(2) succeeded, or with wait=True the Status when it has ended."""
        spec = run_spec(program, args, env=env, cwd=cwd_fd is not None, keep_control=keep_control, wait=wait,
                        detach=detach, call=call)
        self.send_frame(RUN, enc_ref(ref) + spec, [] if cwd_fd is None else [cwd_fd])
        if not wait:
            self._ok()
            return None
        [(_, status)] = self._statuses()
        return status

    def wait(self, refs):
        """-> [(id, Status)], one per ref in order, once all have ended."""
        refs = list(refs)
        self.send_frame(WAIT, enc_u32(len(refs)) + b"".join(enc_ref(r) for r in refs))
        return self._statuses()

    def wait_all(self):
        """wait with flag 1: every process object of our user that has run and is not
        reported yet. -> [(id, Status)] in ascending id order, possibly none."""
        self.send_frame(WAIT, enc_u32(0) + enc_u32(1))
        return self._statuses()

    def kill(self, signal, refs):
        refs = list(refs)
        self.send_frame(KILL, enc_i32(signal) + enc_u32(len(refs)) + b"".join(enc_ref(r) for r in refs))
        self._ok()

    def list(self):
        """-> [Entry] in ascending id order."""
        self.send_frame(LIST)
        r = self.expect(LISTING)
        out = []
        for _ in range(r.u32()):
            id, name, role, parent, pid, state = r.u64(), r.string(), r.u8(), r.u64(), r.i32(), r.u8()
            if role not in Entry.ROLES or state not in Entry.STATES:
                raise ProtocolError("unknown role %d or state %d" % (role, state))
            status, fds, strings, program = r.status(), r.u32(), r.u32(), r.string()
            out.append(Entry(id, name, role, parent, pid, state, status, fds, strings, program))
        r.end()
        return out

    # The figures of a memory entry, in bytes, in the order of the page.
    MEMORY_FIELDS = ("rss", "pss", "shared_clean", "shared_dirty", "private_clean", "private_dirty",
                     "anonymous", "swap")

    def memory(self, refs=()):
        """-> [(id, parent, pid, reading, errno, {field: bytes})], one per ref, or per process
        object of our user when refs is empty. reading: 0 measured, 1 no process, 2 unreadable."""
        refs = list(refs)
        self.send_frame(MEMORY, enc_u32(len(refs)) + b"".join(enc_ref(r) for r in refs))
        r = self.expect(MEMORY_REPLY)
        out = []
        for _ in range(r.u32()):
            id, parent, pid, reading, errno = r.u64(), r.u64(), r.i32(), r.u8(), r.i32()
            figures = {name: r.u64() for name in self.MEMORY_FIELDS}
            if reading not in (0, 1, 2):
                raise ProtocolError("unknown memory reading %d" % reading)
            out.append((id, parent, pid, reading, errno, figures))
        r.end()
        return out

    def audit(self, ref):
        """-> [path bytes] the process object maps that its parent did not when it forked."""
        self.send_frame(AUDIT, enc_ref(ref))
        r = self.expect(MAPPINGS)
        paths = [r.string() for _ in range(r.u32())]
        # Then the modules a language host's worker imported after its fork (issue 14).
        [r.string() for _ in range(r.u32())]
        r.end()
        return paths

    def shutdown(self, wait=False):
        """Stops the daemon; with wait, once the programs clients wait for have ended. The ok
        comes once the daemon has let go of its socket and pid file."""
        self.send_frame(SHUTDOWN, enc_u32(1) if wait else b"")
        self._ok()

    def forget(self, refs):
        """Drops exited process objects. -> [(id, Status)] of those dropped."""
        refs = list(refs)
        self.send_frame(FORGET, enc_u32(len(refs)) + b"".join(enc_ref(r) for r in refs))
        return self._statuses()

    def load(self, ref, path, args=(), *, init=b"", cwd_fd=None, global_=False):
        """Loads a library into ref and runs its init (init: its name; empty for
        forkctl_init). cwd_fd: the directory ref changes to first, not closed here.
        -> the names of ref's threads afterwards."""
        flags = (LOAD_GLOBAL if global_ else 0) | (LOAD_CWD if cwd_fd is not None else 0)
        payload = enc_ref(ref) + enc_u32(flags) + enc_string(path) + enc_string(init) + enc_list(args)
        self.send_frame(LOAD, payload, [] if cwd_fd is None else [cwd_fd])
        r = self.expect(LOADED)
        count = r.u32()
        names = [r.string() for _ in range(r.u32())]
        r.end()
        if count != len(names):
            raise ProtocolError("loaded: %d threads, %d names" % (count, len(names)))
        return names

    def prune(self):
        """Drops every exited, never reported process object of our user. -> [(id, Status)]."""
        self.send_frame(PRUNE)
        return self._statuses()

    def signal(self, signal):
        """Sends signal (1 to 64) to the program this connection is attached to. No reply."""
        self.send_frame(SIGNAL, enc_i32(signal))

    def spawn_start(self, program, args=(), *, fds=None, cwd_fd=None, env=None, from_=b"", name=b"",
                    detach=False, keep_control=False):
        """The first half of spawn: fork, descriptors and run in one request.
        fds: {target: our descriptor}, default {0: 0, 1: 1, 2: 2}.
        cwd_fd: a directory descriptor, default our working directory (opened O_PATH).
        env: default our whole environment, byte for byte (os.environb).
        -> (id, pid) once execve(2) succeeded; then call spawn_finish() (or signal())."""
        if fds is None:
            fds = {0: 0, 1: 1, 2: 2}
        if env is None:
            env = os.environb
        targets = sorted(fds)
        own_cwd = None
        if cwd_fd is None:
            own_cwd = cwd_fd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            payload = (enc_string(from_) + enc_string(name) + enc_u32(SPAWN_DETACH if detach else 0)
                       + enc_targets(targets)
                       + run_spec(program, args, env=env, cwd=True, keep_control=keep_control))
            self.send_frame(SPAWN, payload, [fds[t] for t in targets] + [cwd_fd])
        finally:
            if own_cwd is not None:
                os.close(own_cwd)
        return self._created()

    def spawn_finish(self):
        """The second reply of spawn: the program's Status once it has ended."""
        [(_, status)] = self._statuses()
        return status

    def spawn(self, program, args=(), **kw):
        """spawn_start then spawn_finish. -> (id, pid, Status)."""
        id, pid = self.spawn_start(program, args, **kw)
        return id, pid, self.spawn_finish()
