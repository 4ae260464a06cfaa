"""Drives a running forkctl daemon through the forkctl Python package (python/ in the
repository), step by step, checking each answer against forkctl-protocol(7).
Usage: exercise.py SOCKET LIBRARY

Prints one line per step, without ids or pids, and exits 0 only if every step matched.
Workers write to the same standard output; their output comes before the line of the step
that ran them, since a step's line is printed only once the worker has ended.
"""

import os
import signal
import struct
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
# The package from the tree: Tests/Fixtures/python -> the repository's python/.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "python"))
import forkctl as fc  # noqa: E402
from forkctl import _wire as wire  # noqa: E402

failures = 0


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def check(step, ok, text):
    """Prints `step text`, and counts a failure (marked on the line) when not ok."""
    global failures
    if not ok:
        failures += 1
        text += "  <-- MISMATCH"
    say("%s %s" % (step, text))


def attempt(step, f):
    """Runs f(); an unexpected exception is a failed step."""
    global failures
    try:
        f()
    except Exception as e:  # noqa: BLE001
        failures += 1
        say("%s raised %s: %s  <-- MISMATCH" % (step, type(e).__name__, e))


def main():
    path = sys.argv[1]
    env = dict(os.environb)
    here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    c = fc.Client(path, auto_start=False)

    def hello():
        version, pid = c.hello()
        check("hello", version == 1 and pid > 0, "version=%d" % version)

    def send_and_run():
        id, pid = c.new()
        check("new", id > 0 and pid > 0, "ok")
        c.send_fds(id, [1], [1])
        say("send-fds ok")
        c.send_args(id, [b"from", b"python"])
        say("send-args ok")
        # echo writes "from python extra" whenever it runs: the line of this step waits
        # for the wait, so that the output stays in one order.
        r = c.run(id, "echo", ["extra"], cwd=here, env=env)
        [(wid, status)] = c.wait([id])
        check("run", r is None, "ok")
        check("wait", wid == id and status == fc.Status(fc.Status.EXITED, 0), "status=%s" % status)

    def run_wait():
        id, _ = c.new()
        c.send_fds(id, [1], [1])
        status = c.run(id, "sh", ["-c", "exit 7"], cwd=here, env=env, wait=True)
        check("run-wait", status == fc.Status(fc.Status.EXITED, 7), "status=%s" % status)

    def spawn_printf():
        p = c.spawn(["sh", "-c", 'printf "%s|" "$@"', "sh", b"a b", b"", b"\xff"])
        p.wait()
        id, pid, status = p.id, p.pid, p.status
        # printf wrote no newline: end its line first.
        say("")
        check("spawn printf", id > 0 and pid > 0 and status.exited and status.code == 0, "status=%s" % status)

    def spawn_missing():
        program = "no-such-program-forkctl-python"
        try:
            c.spawn([program])
        except fc.ForkctlError as e:
            check("spawn missing", e.code == fc.PROGRAM_NOT_FOUND and e.message.startswith(program),
                  "failure code=%d (%s) names the program=%s" % (e.code, fc.ERROR_NAMES.get(e.code), e.message.startswith(program)))
        else:
            check("spawn missing", False, "no failure")

    def spawn_killed():
        p = c.spawn(["sh", "-c", "kill -TERM $$"])
        p.wait()
        status = p.status
        check("spawn kill", status == fc.Status(fc.Status.SIGNALED, signal.SIGTERM), "status=%s" % status)

    def spawn_signalled():
        # Between its two replies the connection is attached to the program: a signal
        # frame reaches its process group.
        p = c.spawn(["sleep", "100"])
        p.send_signal(signal.SIGTERM)
        p.wait()
        status = p.status
        check("spawn signal", status == fc.Status(fc.Status.SIGNALED, signal.SIGTERM), "status=%s" % status)

    def kill_and_list():
        id, _ = c.new(b"py-sleeper")
        c.run("py-sleeper", "sleep", ["100"], cwd=here, env=env)
        c.kill(["py-sleeper"], signal.SIGTERM)
        [(wid, status)] = c.wait([id])
        check("kill", wid == id and status == fc.Status(fc.Status.SIGNALED, signal.SIGTERM), "status=%s" % status)
        entry = [e for e in c.list() if e.id == id]
        ok = (len(entry) == 1 and entry[0].name == b"py-sleeper" and entry[0].role == 2 and entry[0].state == 3
              and entry[0].status == status and entry[0].program == b"sleep")
        e = entry[0] if entry else None
        check("list", ok, "name=%s role=%s state=%s status=%s program=%s" % (
            e and e.name.decode(), e and fc.Entry.ROLES[e.role], e and fc.Entry.STATES[e.state], e and e.status,
            e and e.program.decode()))
        dropped = c.forget([id])
        gone = not [e for e in c.list() if e.id == id]
        check("forget", dropped == [(id, status)] and gone, "dropped=%s gone=%s" % (
            ",".join(str(s) for _, s in dropped), gone))

    def exited_job():
        """A process object that ran `exit 3` and has exited, never waited for. -> its id."""
        id, _ = c.new()
        c.run(id, "sh", ["-c", "exit 3"], cwd=here, env=env)
        for _ in range(500):
            if [e for e in c.list() if e.id == id and e.state == 3]:
                break
            time.sleep(0.01)
        return id

    def wait_all_and_prune():
        id = exited_job()
        pending = c.wait_all()
        check("wait all", (id, fc.Status(fc.Status.EXITED, 3)) in pending and c.wait_all() == [],
              "statuses=%s" % ",".join(str(s) for i, s in pending if i == id))
        detached, _ = c.new()
        c.run(detached, "true", cwd=here, env=env, detach=True)
        for _ in range(500):
            if not [e for e in c.list() if e.id == detached]:
                break
            time.sleep(0.01)
        forgotten = not [e for e in c.list() if e.id == detached]
        check("run detach", forgotten, "forgotten=%s" % forgotten)
        id = exited_job()
        dropped = [d for d in c.prune() if d[0] == id]
        gone = not [e for e in c.list() if e.id == id]
        check("prune", dropped == [(id, fc.Status(fc.Status.EXITED, 3))] and gone, "dropped=%s gone=%s" % (
            ",".join(str(s) for _, s in dropped), gone))

    def load_and_call():
        # argv[2]: a library exporting forkctl_init and answer (returns 42).
        t, _ = c.exec()
        names = c.load(t, os.fsencode(sys.argv[2]), [b"py-model"], cwd=here)
        check("load", names == [b"forkctl/object"], "threads=%d" % len(names))
        w, _ = c.fork(t)
        status = c.call(w, "answer", cwd=here, env=env, wait=True)
        check("call", status == fc.Status(fc.Status.EXITED, 42), "status=%s" % status)
        w, _ = c.fork(t)
        try:
            c.call(w, "no_such_function", cwd=here, env=env)
        except fc.ForkctlError as e:
            check("call missing", e.code == fc.SYMBOL_NOT_FOUND, "failure code=%d (%s)" % (e.code, fc.ERROR_NAMES.get(e.code)))
        else:
            check("call missing", False, "no failure")

    def memory_and_audit():
        t, _ = c.exec()
        w, _ = c.fork(t)
        entries = c.memory([t, w])
        measured = [e[3] == 0 and e[4] == 0 and 0 < e[5]["pss"] <= e[5]["rss"] for e in entries]
        parents = [e[1] for e in entries] == [0, t]
        new = c.audit(w).paths
        try:
            c.audit(t)
            code = 0
        except fc.ForkctlError as e:
            code = e.code
        check("memory", measured == [True, True] and parents and new == [] and code == fc.WRONG_STATE,
              "measured=%s parents=%s audit=%s template audit code=%d (%s)" % (
                  measured, parents, new, code, fc.ERROR_NAMES.get(code)))

    def unknown_reference():
        try:
            c.wait(["no-such-name"])
        except fc.ForkctlError as e:
            check("wait unknown", e.code == fc.UNKNOWN_PROCESS, "failure code=%d (%s)" % (e.code, fc.ERROR_NAMES.get(e.code)))
        else:
            check("wait unknown", False, "no failure")

    def violation(step, send):
        """On a fresh connection: send(conn), then a failure with code 11, then end of file."""
        with fc.Connection(path, auto_start=False) as v:
            send(v)
            try:
                v.recv_reply()
                check(step, False, "no failure")
                return
            except fc.ForkctlError as e:
                code = e.code
            try:
                v.recv_frame()
                closed = False
            except fc.ConnectionClosed:
                closed = True
            check(step, code == fc.PROTOCOL_ERROR and closed, "failure code=%d (%s) closed=%s" % (
                code, fc.ERROR_NAMES.get(code), closed))

    def unknown_type():
        # Only the header, announcing 100 bytes that never come: the type is refused
        # as soon as the header is in.
        violation("violation unknown-type", lambda v: v.sock.sendall(struct.pack("<BBHI", 1, 0x3f, 0, 100)))

    def wrong_version():
        # The example of the page: a frame with version 2.
        violation("violation version-2", lambda v: v.send_frame(wire.HELLO, b"\x01", version=2))

    def missing_descriptor():
        # send-fds declaring one descriptor and carrying none.
        payload = wire.enc_ref(1) + wire.enc_targets([-1])
        violation("violation fd-count", lambda v: v.send_frame(wire.SEND_FDS, payload, fd_count=1))

    def reply_type():
        # A type that only the daemon may send.
        violation("violation reply-type", lambda v: v.send_frame(wire.OK, b""))

    def still_serving():
        # The daemon and this connection go on after the violations.
        version, _ = c.hello()
        check("after violations hello", version == 1, "version=%d" % version)

    for step, f in [
        ("hello", hello), ("new", send_and_run), ("run-wait", run_wait), ("spawn printf", spawn_printf),
        ("spawn missing", spawn_missing), ("spawn kill", spawn_killed),
        ("spawn signal", spawn_signalled), ("kill", kill_and_list),
        ("wait all", wait_all_and_prune), ("load", load_and_call), ("memory", memory_and_audit),
        ("wait unknown", unknown_reference), ("violation unknown-type", unknown_type),
        ("violation version-2", wrong_version), ("violation fd-count", missing_descriptor),
        ("violation reply-type", reply_type), ("after violations hello", still_serving),
    ]:
        attempt(step, f)

    c.close()
    os.close(here)
    say("%s" % ("all steps ok" if failures == 0 else "%d steps failed" % failures))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
