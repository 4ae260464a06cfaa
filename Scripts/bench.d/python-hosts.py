#!/usr/bin/python3
"""Python's side of Scripts/bench's language-host groups (issue 14). Every mode preloads numpy
and pybench (beside this script) once, untimed, then does its work.

  python-hosts.py forkserver N    multiprocessing's forkserver context: Process(target=noop)
                                  start + join, N times; prints the microseconds the N took
  python-hosts.py fork N          the same with the fork context (this process has numpy)
  python-hosts.py bare N          the floor: os.fork() + os._exit(0) in the child + waitpid,
                                  N times, in this process with numpy and pybench imported
                                  (no start method, no report: what any per-worker fork costs)
  python-hosts.py forkctl N       forkctl's Python host through the forkctl package:
                                  Template(preload=["numpy", "pybench"]) once, then
                                  Process(target="pybench:noop") start + join, N times
  python-hosts.py share-forkserver MB W MODE
  python-hosts.py share-forkctl MB W MODE
                                  a template whose import of pybench builds MB megabytes of
                                  small objects (BENCH_PY_MB), W workers that each do
                                  pybench.work(MODE) ("iterate": read every object; "collect":
                                  allocate and collect without reading them) and stay alive;
                                  prints "value pss_kb TOTAL" (the template's and the workers'
                                  Pss + SwapPss, from smaps_rollup) and "value
                                  template_pss_kb T", as forkctl-bench's measuring commands do

The forkctl modes talk to the daemon named by FORKCTL_SOCKET (Scripts/bench's private one) and
import the package from python/ in the source tree.
"""
import multiprocessing as mp
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# Python 3.11's forkserver ignores the sys.path it is handed and drops a preload it cannot
# import without a word (cpython gh-98552): PYTHONPATH is how its users make pybench
# importable there, so that it really is preloaded.
os.environ["PYTHONPATH"] = HERE
sys.path.insert(1, os.path.join(os.path.dirname(os.path.dirname(HERE)), "python"))


def pss_kb(pid):
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(("Pss:", "SwapPss:")):
                total += int(line.split()[1])
    return total


def timed(n, once):
    once()
    t = time.monotonic_ns()
    for _ in range(n):
        once()
    print((time.monotonic_ns() - t) // 1000)


def multiprocessing_loop(kind, n):
    import pybench
    ctx = mp.get_context(kind)
    if kind == "forkserver":
        ctx.set_forkserver_preload(["numpy", "pybench"])
    else:
        import numpy  # noqa: F401  (the fork context copies what this process has loaded)

    def once():
        p = ctx.Process(target=pybench.noop)
        p.start()
        p.join()
        if p.exitcode != 0:
            sys.exit("a worker exited with %s" % p.exitcode)
    timed(n, once)


def bare_loop(n):
    import numpy  # noqa: F401
    import pybench  # noqa: F401

    def once():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            sys.exit("a child ended with status %d" % status)
    timed(n, once)


def forkctl_loop(n):
    import forkctl
    with forkctl.Template(preload=["numpy", "pybench"], interpreter=sys.executable) as t:
        def once():
            p = t.Process(target="pybench:noop")
            p.start()
            p.join()
            if p.exitcode != 0:
                sys.exit("a worker exited with %s" % p.exitcode)
        timed(n, once)


def wait_ready(reader, count):
    """Reads `count` "ready PID" lines from the pipe the workers share; -> their pids."""
    pids, buffered = [], b""
    while len(pids) < count:
        chunk = os.read(reader, 4096)
        if not chunk:
            sys.exit("the workers' pipe closed after %d of %d" % (len(pids), count))
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        pids += [int(line.split()[1]) for line in lines if line.startswith(b"ready ")]
    return pids


def share_forkserver(mb, workers, mode):
    os.environ["BENCH_PY_MB"] = str(mb)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["numpy", "pybench"])
    # Pipes as multiprocessing connections: the forkserver hands them to its children.
    ready_r, ready_w = ctx.Pipe(duplex=False)
    hold_r, hold_w = ctx.Pipe(duplex=False)
    procs = [ctx.Process(target=_forkserver_hold, args=(ready_w, hold_r, mode)) for _ in range(workers)]
    for p in procs:
        p.start()
    pids = [ready_r.recv() for _ in range(workers)]
    server = int(open("/proc/%d/stat" % pids[0]).read().rsplit(")", 1)[1].split()[1])
    template = pss_kb(server)
    print("value pss_kb %d" % (template + sum(pss_kb(pid) for pid in pids)))
    print("value template_pss_kb %d" % template)
    hold_w.close()
    for p in procs:
        p.join()


def _forkserver_hold(ready_w, hold_r, mode):
    """pybench.hold, told and held through multiprocessing connections."""
    import pybench
    pybench.work(mode)
    ready_w.send(os.getpid())
    try:
        hold_r.recv()
    except EOFError:
        pass


def share_forkctl(mb, workers, mode):
    import forkctl
    env = dict(os.environ, BENCH_PY_MB=str(mb))
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    with forkctl.Template(preload=["numpy", "pybench"], interpreter=sys.executable, env=env) as t:
        procs = [t.Process(target="pybench:hold", args=(mode,), stdin=hold_r, stdout=ready_w) for _ in range(workers)]
        for p in procs:
            p.start()
        os.close(ready_w)
        os.close(hold_r)
        pids = wait_ready(ready_r, workers)
        template = pss_kb(t.pid)
        print("value pss_kb %d" % (template + sum(pss_kb(pid) for pid in pids)))
        print("value template_pss_kb %d" % template)
        os.close(hold_w)
        for p in procs:
            p.join()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode in ("forkserver", "fork") and len(sys.argv) == 3:
        multiprocessing_loop(mode, int(sys.argv[2]))
    elif mode in ("forkctl", "bare") and len(sys.argv) == 3:
        (forkctl_loop if mode == "forkctl" else bare_loop)(int(sys.argv[2]))
    elif mode in ("share-forkserver", "share-forkctl") and len(sys.argv) == 5:
        share = share_forkserver if mode == "share-forkserver" else share_forkctl
        share(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("usage: python-hosts.py forkserver|fork|forkctl|bare N | share-forkserver|share-forkctl MB W MODE")


if __name__ == "__main__":
    main()
