"""A module that starts a thread when imported: a host must then refuse to fork."""

import threading
import time


def _tick():
    with open("/proc/thread-self/comm", "w") as f:
        f.write("ticker")
    while True:
        time.sleep(60)


threading.Thread(target=_tick, daemon=True).start()
time.sleep(0.05)
