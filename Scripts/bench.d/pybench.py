"""The work of Scripts/bench's language-host groups, imported once into a template.

noop(): the trivial function a worker calls. With BENCH_PY_MB set when this module is
imported, it builds about that many megabytes of small Python objects (tuples of an int
and a str), which hold() then reads in a worker: every object's reference count is
written, so the pages a collector or a refcount touches are counted.
"""
import os
import sys

DATA = []
_mb = int(os.environ.get("BENCH_PY_MB", "0") or 0)
if _mb:
    # About 150 bytes per entry: a 2-list (72, with its item array), an int (28) and a short
    # str (~50). Lists, not tuples: the collector stops tracking a tuple of atomic items, but
    # it keeps every list, as it keeps most objects of a real program.
    for i in range(_mb * 1024 * 1024 // 150):
        DATA.append([i, "s%d" % i])


def noop(*args):
    return 0


def work(mode):
    """What a sharing worker does to the template's objects. "iterate": reads every one (each
    object's reference count is written, so every page that holds one is copied: gc.freeze
    cannot help there). "collect": a worker that allocates and runs a full collection
    without reading them, as a web worker using a little of a large preloaded model does."""
    if mode == "iterate":
        total = 0
        for pair in DATA:
            total += pair[0]
    elif mode == "collect":
        import gc
        scratch = [(i, str(i)) for i in range(100000)]
        gc.collect()
        del scratch
    else:
        raise ValueError("mode %r" % mode)


def hold(mode="iterate"):
    """work(mode), says so on fd 1, then waits until fd 0 reaches end of file."""
    work(mode)
    os.write(1, b"ready %d\n" % os.getpid())
    while os.read(0, 4096):
        pass
    return 0
