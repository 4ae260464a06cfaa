"""The forkserver user's path: a Python host template with modules preloaded, and processes
that each run a function of it, as multiprocessing.Process does.

    t = forkctl.Template(preload=["numpy", "mymod"])
    p = t.Process(target="mymod:work", args=("a", "b"))
    p.start()
    p.join()
    p.exitcode

The function runs in the template's interpreter, not in this one: the target is a
"module:function" string that the template imports (a function object of an importable
module works too, by its name), and the arguments are strings.
"""

import os
import signal
import sys

from .client import Client
from .process import TimeoutExpired


def _default_client():
    from . import default_client
    return default_client()


def target_name(target):
    """"module:function" for a target given as that string or as a function of a module."""
    if isinstance(target, str):
        if ":" not in target:
            raise ValueError("a target is \"module:function\", not %r" % target)
        return target
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise ValueError("%r has no importable name: give the target as \"module:function\"" % (target,))
    if module == "__main__":
        raise ValueError("%s is defined in __main__, which the template does not import: move it to a module and "
                         "give the target as \"module:function\"" % qualname)
    return "%s:%s" % (module, qualname)


def _argument(a):
    if isinstance(a, (str, bytes)):
        return a
    if isinstance(a, os.PathLike):
        return os.fspath(a)
    if isinstance(a, int) and not isinstance(a, bool):
        return str(a)
    raise TypeError("a worker's arguments are strings (the function runs in another interpreter), not %s"
                    % type(a).__name__)


class Template:
    """A Python host template (forkctl exec --python) with `preload` imported, each module
    once, in order; then gc.collect() and gc.freeze() keep its objects' pages shared by the
    workers. `interpreter`: the Python to run (default this one, sys.executable), started
    with `env` (default our environment) and, when it is this interpreter, our sys.path in
    PYTHONPATH so that it imports what we import. Close it (or use `with`) to end it."""

    def __init__(self, preload=(), *, name="", interpreter=None, env=None, client=None):
        self.client = client if client is not None else _default_client()
        environment = dict(os.environ if env is None else env)
        if interpreter is None:
            interpreter = sys.executable
            path = [p for p in sys.path if p]
            if path:
                environment["PYTHONPATH"] = os.pathsep.join(path)
        self.id, self.pid = self.client.exec(name, python=True, interpreter=interpreter, env=environment)
        try:
            for module in preload:
                self.load(module)
        except BaseException:
            self.close()
            raise

    def load(self, module, *args, init=""):
        """Imports `module` in the template (relative to our working directory), and calls its
        function `init` with `args` when given. -> the template's thread names."""
        return self.client.load(self.id, module, args, init=init, cwd=os.getcwd())

    def eval(self, code, *args):
        """Runs Python `code` in the template's __main__, with sys.argv ["-c", *args]."""
        return self.client.eval(self.id, code, args, cwd=os.getcwd())

    def Process(self, target, args=(), *, name="", **spawn):
        """A TemplateProcess that calls `target` ("module:function") with `args` when started.
        Other keywords go to Client.spawn (stdin, stdout, stderr, env, cwd, pass_fds, ...)."""
        return TemplateProcess(self, target, args, name=name, **spawn)

    def close(self):
        """Ends the template (its workers run on)."""
        from .errors import ForkctlError
        try:
            self.client.kill(self.id, signal.SIGKILL)
            self.client.wait(self.id)
            self.client.forget(self.id)
        except ForkctlError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TemplateProcess:
    """A worker of a Template, as multiprocessing.Process has one: start(), join(), exitcode,
    pid, is_alive(), terminate(), kill(), and sentinel (a pidfd, readable once it ended)."""

    def __init__(self, template, target, args=(), *, name="", **spawn):
        self.template = template
        self.target = target_name(target)
        self.args = tuple(_argument(a) for a in args)
        self.name = name
        self._spawn = spawn
        self._process = None

    def start(self):
        if self._process is not None:
            raise AssertionError("cannot start a process twice")
        self._process = self.template.client.spawn(
            [self.target, *self.args], template=self.template.id, call=True, name=self.name, **self._spawn)

    @property
    def process(self):
        """The forkctl Process once started (pipes, status), else None."""
        return self._process

    @property
    def pid(self):
        return None if self._process is None else self._process.pid

    ident = pid

    @property
    def sentinel(self):
        if self._process is None:
            raise ValueError("process not started")
        return self._process.pidfd

    @property
    def exitcode(self):
        """None while it runs; its exit status, or minus the signal that ended it."""
        return None if self._process is None else self._process.poll()

    def join(self, timeout=None):
        if self._process is None:
            raise AssertionError("can only join a started process")
        try:
            self._process.wait(timeout)
        except TimeoutExpired:
            pass

    def is_alive(self):
        return self._process is not None and self._process.poll() is None

    def terminate(self):
        self._process.terminate()

    def kill(self):
        self._process.kill()

    def close(self):
        if self._process is not None:
            self._process.close()

    def __repr__(self):
        state = "initial" if self._process is None else "started" if self.exitcode is None else \
            "stopped exitcode=%s" % self.exitcode
        return "<forkctl.TemplateProcess %s %s>" % (self.target, state)


__all__ = ["Template", "TemplateProcess", "Client"]
