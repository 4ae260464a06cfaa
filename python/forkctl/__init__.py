"""forkctl for Python: programs and functions started by the forkctl daemon, from templates
that fork them, instead of forking this process.

    import forkctl
    p = forkctl.spawn(["ls", "-l"], stdout=forkctl.PIPE)
    out, _ = p.communicate()

    t = forkctl.Template(preload=["numpy", "mymod"])
    w = t.Process(target="mymod:work", args=("a", "b"))
    w.start(); w.join(); w.exitcode

    with forkctl.Client() as c:
        t = c.exec(python=True)
        c.load(t.id, "json")
        w = c.fork(t.id)
        c.call(w.id, "json:dumps", ["x"], wait=True)

The daemon is found (and started when none answers) as forkctl(1) finds it. See README.md.
"""

import os
import threading

from ._connection import Connection, default_socket_path, timeout_from_environment  # noqa: F401
from ._wire import (  # noqa: F401
    BAD_REQUEST, EXEC_FAILED, INTERNAL_ERROR, LIMIT_REACHED, LOAD_FAILED, NAME_IN_USE, PERMISSION_DENIED,
    PROGRAM_NOT_EXECUTABLE, PROGRAM_NOT_FOUND, PROTOCOL_ERROR, SHUTTING_DOWN, STILL_RUNNING, SYMBOL_NOT_FOUND,
    TEMPLATE_FAILED, UNKNOWN_POOL, UNKNOWN_PROCESS, WORKING_DIRECTORY_FAILED, WRONG_STATE, Entry, Status)
from .client import Client, Created, DaemonStatus, Mappings, MemoryEntry  # noqa: F401
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors
from .notify import busy, idle, notify, ready, watchdog  # noqa: F401
from .process import DEVNULL, PIPE, STDOUT, Process, TimeoutExpired  # noqa: F401
from .template import Template, TemplateProcess  # noqa: F401

__version__ = "0.1.0"

_default = None
_default_lock = threading.Lock()


def default_client():
    """The Client of forkctl.spawn and of a Template made without one: the daemon at the
    default socket, started when none answers. Made on first use; a child forked from this
    process makes its own."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def _forget_default_client():
    # A forked child must not share the parent's connections: their replies would go to
    # whichever process reads first.
    global _default, _default_lock
    _default = None
    _default_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_default_client)


def spawn(args, *, stdin=None, stdout=None, stderr=None, env=None, cwd=None, pass_fds=(), template=None, **kw):
    """Starts a program through the default client's daemon; see Client.spawn. -> Process."""
    return default_client().spawn(args, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd,
                                  pass_fds=pass_fds, template=template, **kw)


__all__ = [
    "spawn", "Client", "Process", "Template", "TemplateProcess", "Connection", "Status", "Entry", "Created",
    "Mappings", "MemoryEntry", "DaemonStatus", "PIPE", "DEVNULL", "STDOUT", "TimeoutExpired", "notify", "ready", "busy", "idle",
    "watchdog", "default_client", "default_socket_path",
] + list(_errors)
