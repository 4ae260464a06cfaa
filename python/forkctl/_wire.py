"""The encoding of forkctl-protocol(7): message types, flags, fields, and a payload reader.

Pure functions over bytes; nothing here touches a socket. Integers are little-endian; a
`string` is a u32 length and its octets, a `list` a u32 count and that many strings.
"""

import os
import struct

from .errors import ProtocolError

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
POOL = 0x13
EVAL = 0x14
STATUS = 0x15

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
POOLS = 0x49
POOL_EVENT = 0x4A
DAEMON_STATUS = 0x4B
REPLIES = frozenset((OK, CREATED, FAILURE, STATUSES, LISTING, WELCOME, LOADED, MEMORY_REPLY, MAPPINGS, POOLS,
                     POOL_EVENT, DAEMON_STATUS))

# Run spec flags.
RUN_KEEP_CONTROL = 1
RUN_CWD = 2
RUN_ENV = 4
RUN_WAIT = 8
RUN_ATTRIBUTES = 32  # request 0x07: process attributes follow the run spec
RUN_DETACH = 64  # request 0x07 only: forget the process object once it has exited
RUN_CALL = 128  # the program string names a function the process object loaded
RUN_QUICK_EXIT = 256  # with RUN_CALL: _exit(2) instead of exit(3)

# Load and eval flags.
LOAD_GLOBAL = 1
LOAD_CWD = 2

# Spawn flags.
SPAWN_DETACH = 1
SPAWN_PIDFD = 2
SPAWN_ATTRIBUTES = 4

# Host languages of exec's host block.
HOST_PYTHON = 1
HOST_PERL = 2

# Error codes of failure replies, by the names of the protocol page.
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
WORKING_DIRECTORY_FAILED = 14
STILL_RUNNING = 15
LOAD_FAILED = 16
SYMBOL_NOT_FOUND = 17
UNKNOWN_POOL = 18

HEADER = struct.Struct("<BBHI")
MAX_PAYLOAD = 4 * 1024 * 1024
MAX_FDS = 64
MAX_LIST = 65536
# Linux's resources, RLIMIT_CPU (0) to RLIMIT_RTTIME (15): RLIM_NLIMITS is 16.
RESOURCE_COUNT = 16
_U64_MAX = (1 << 64) - 1


def octets(s):
    """bytes as they are; str through the file system encoding (surrogateescape), as os does."""
    if isinstance(s, (bytes, bytearray, memoryview)):
        return bytes(s)
    if isinstance(s, str):
        return os.fsencode(s)
    if isinstance(s, os.PathLike):
        return os.fsencode(s)
    raise TypeError("expected bytes or str, not %s" % type(s).__name__)


def enc_u8(v):
    return struct.pack("<B", v)


def enc_u32(v):
    return struct.pack("<I", v)


def enc_i32(v):
    return struct.pack("<i", v)


def enc_u64(v):
    return struct.pack("<Q", v)


def enc_string(s):
    b = octets(s)
    return enc_u32(len(b)) + b


def enc_list(items):
    items = list(items)
    if len(items) > MAX_LIST:
        raise ValueError("a list holds at most %d strings" % MAX_LIST)
    return enc_u32(len(items)) + b"".join(enc_string(i) for i in items)


def enc_ref(ref):
    """A process object: an int id, or a name (bytes or str; all digits is an id)."""
    if isinstance(ref, bool):
        raise TypeError("a ref is an id or a name, not a bool")
    if isinstance(ref, int):
        if ref < 0:
            raise ValueError("an id is not negative")
        return enc_string(str(ref).encode())
    return enc_string(ref)


def enc_refs(refs):
    """A list of refs."""
    refs = list(refs)
    if len(refs) > MAX_LIST:
        raise ValueError("a list holds at most %d refs" % MAX_LIST)
    return enc_u32(len(refs)) + b"".join(enc_ref(r) for r in refs)


def enc_targets(targets):
    for t in targets:
        if not -1 <= t <= 1023:
            raise ValueError("a target is -1 or 0 to 1023, not %d" % t)
    return enc_u32(len(targets)) + b"".join(enc_i32(t) for t in targets)


def environment_strings(env):
    """b"NAME=value" strings from a mapping (bytes or str keys and values) or a sequence of
    such strings."""
    if hasattr(env, "items"):
        return [octets(k) + b"=" + octets(v) for k, v in env.items()]
    return [octets(e) for e in env]


def run_spec(program, args=(), *, env=None, cwd=False, keep_control=False, wait=False, detach=False,
             call=False, quick_exit=False, attributes=False):
    """The run spec: u32 flags, string program, list arguments, [list environment]."""
    flags = 0
    for on, bit in ((keep_control, RUN_KEEP_CONTROL), (cwd, RUN_CWD), (env is not None, RUN_ENV),
                    (wait, RUN_WAIT), (attributes, RUN_ATTRIBUTES), (detach, RUN_DETACH), (call, RUN_CALL),
                    (quick_exit, RUN_QUICK_EXIT)):
        if on:
            flags |= bit
    out = enc_u32(flags) + enc_string(program) + enc_list(args)
    if env is not None:
        out += enc_list(environment_strings(env))
    return out


def process_attributes(umask, nice, limits):
    """The process attributes block: the umask, the nice value, no ignored or blocked signal,
    the resource limits [(resource, soft, hard)] (None: RLIM_INFINITY), no flag, no
    capability mask."""
    out = enc_u32(umask) + enc_i32(nice) + enc_u64(0) + enc_u64(0) + enc_u32(len(limits))
    for resource, soft, hard in limits:
        out += enc_u32(resource) + enc_u64(_U64_MAX if soft is None else soft)
        out += enc_u64(_U64_MAX if hard is None else hard)
    return out + enc_u32(0) + enc_u64(0) * 5


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
        """The exit code, or None when a signal ended it."""
        return self.value if self.tag == Status.EXITED else None

    @property
    def signal(self):
        """The signal that ended it, or None."""
        return self.value if self.tag in (Status.SIGNALED, Status.CORE) else None

    @property
    def returncode(self):
        """As subprocess has it: the exit code, or minus the signal number; None for none yet."""
        if self.tag == Status.NONE:
            return None
        return self.value if self.tag == Status.EXITED else -self.value

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

    ROLES = {0: "template", 1: "default-template", 2: "process", 3: "python-host", 4: "perl-host"}
    STATES = {0: "starting", 1: "ready", 2: "running", 3: "exited"}

    def __init__(self, id, name, role, parent, pid, state, status, fds, strings, program):
        self.id, self.name, self.role, self.parent, self.pid = id, name, role, parent, pid
        self.state, self.status, self.fds, self.strings, self.program = state, status, fds, strings, program

    def __repr__(self):
        return ("Entry(id=%d, name=%r, role=%s, parent=%d, pid=%d, state=%s, status=%s, fds=%d, strings=%d, "
                "program=%r)" % (self.id, self.name, Entry.ROLES[self.role], self.parent, self.pid,
                                 Entry.STATES[self.state], self.status, self.fds, self.strings, self.program))


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

    def strings(self):
        n = self.u32()
        if n > MAX_LIST:
            raise ProtocolError("a list of %d strings" % n)
        return [self.string() for _ in range(n)]

    def status(self):
        tag, value = self.unpack("Bi")
        return Status(tag, value)

    @property
    def at_end(self):
        return self.i == len(self.b)

    def end(self):
        if self.i != len(self.b):
            raise ProtocolError("payload longer than its layout: %d bytes left" % (len(self.b) - self.i))
