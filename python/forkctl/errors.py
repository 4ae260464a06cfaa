"""The exceptions of the forkctl package.

Every exception it raises is a ForkctlError. A failure reply of the daemon (forkctl-protocol(7),
ERROR CODES) raises the subclass of its code, with `code` and the daemon's `message`; a code this
package does not know raises ForkctlError itself. A daemon that cannot be reached, or that goes
away or breaks the protocol, raises DaemonUnavailable or ConnectionLost, which are also
ConnectionError, so that code written for sockets catches them.
"""

__all__ = [
    "ForkctlError", "UnknownID", "WrongState", "BadRequest", "LimitReached", "TemplateFailed",
    "ProgramNotFound", "ProgramNotExecutable", "ExecFailed", "PermissionDenied", "InternalError",
    "ProtocolViolation", "ShuttingDown", "NameInUse", "WorkingDirectoryFailed", "StillRunning",
    "LoadFailed", "SymbolNotFound", "UnknownPool", "DaemonUnavailable", "ConnectionLost",
    "ConnectionClosed", "ProtocolError", "ERROR_NAMES", "error_for",
]

# The codes of forkctl-protocol(7), ERROR CODES, as the page names them.
ERROR_NAMES = {
    1: "unknown process", 2: "wrong state", 3: "bad request", 4: "limit reached",
    5: "template failed", 6: "program not found", 7: "program not executable",
    8: "exec failed", 9: "permission denied", 10: "internal error", 11: "protocol error",
    12: "shutting down", 13: "name in use", 14: "working directory failed", 15: "still running",
    16: "load failed", 17: "symbol not found", 18: "unknown pool",
}


class ForkctlError(Exception):
    """A failure of forkctl. `code`: the daemon's error code for a refusal (see ERROR_NAMES),
    None for a failure on this side; `message`: text for a person."""

    code = None

    def __init__(self, message, code=None):
        if code is not None:
            self.code = code
        self.message = message
        if self.code is None:
            super().__init__(message)
        else:
            super().__init__("forkctl error %d (%s): %s" % (self.code, ERROR_NAMES.get(self.code, "?"), message))


class UnknownID(ForkctlError):
    """No process object has that id or name."""
    code = 1


class WrongState(ForkctlError):
    """The process object has run or exited, is being forked, or cannot take the request."""
    code = 2


class BadRequest(ForkctlError):
    """An invalid name, NUL in a string sent before run, a signal kill(2) refused."""
    code = 3


class LimitReached(ForkctlError):
    """Too many process objects, descriptors or bytes of strings."""
    code = 4


class TemplateFailed(ForkctlError):
    """A template could not fork (it has threads, say) or an attribute could not be applied."""
    code = 5


class ProgramNotFound(ForkctlError):
    """execve(2) found no such program (ENOENT); the message starts with its name."""
    code = 6


class ProgramNotExecutable(ForkctlError):
    """execve(2) was refused (EACCES)."""
    code = 7


class ExecFailed(ForkctlError):
    """execve(2) failed for another reason."""
    code = 8


class PermissionDenied(ForkctlError):
    """The daemon does not admit this user, or has too many connections."""
    code = 9


class InternalError(ForkctlError):
    """The daemon failed on its own side."""
    code = 10


class ProtocolViolation(ForkctlError):
    """The daemon took what this side sent for a protocol violation and closed the connection."""
    code = 11


class ShuttingDown(ForkctlError):
    """The daemon is shutting down."""
    code = 12


class NameInUse(ForkctlError):
    """The name belongs to a process object that has not exited."""
    code = 13


class WorkingDirectoryFailed(ForkctlError):
    """The worker could not change to the working directory sent."""
    code = 14


class StillRunning(ForkctlError):
    """The daemon shut down while the program ran: it runs on, and its status is lost."""
    code = 15


class LoadFailed(ForkctlError):
    """A library or module did not load, or its init failed."""
    code = 16


class SymbolNotFound(ForkctlError):
    """The init or function named exists in nothing the process object loaded."""
    code = 17


class UnknownPool(ForkctlError):
    """No pool has that name."""
    code = 18


class DaemonUnavailable(ForkctlError, ConnectionError):
    """No daemon answers at the socket and none could be started, or it did not answer in time."""


class ConnectionLost(ForkctlError, ConnectionError):
    """The connection to the daemon broke: the daemon went away, or sent something the
    protocol does not allow (ProtocolError)."""


class ConnectionClosed(ConnectionLost):
    """End of file from the daemon between frames."""


class ProtocolError(ConnectionLost):
    """The daemon sent something the protocol does not allow."""


_BY_CODE = {cls.code: cls for cls in ForkctlError.__subclasses__() if cls.code is not None}


def error_for(code, message):
    """The exception for a failure reply with `code` and `message`."""
    cls = _BY_CODE.get(code)
    return cls(message) if cls is not None else ForkctlError(message, code)
