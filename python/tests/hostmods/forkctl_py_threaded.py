"""Starts a thread at import: a host that imported it must refuse to fork."""

import threading
import time

started = threading.Event()
threading.Thread(target=lambda: (started.set(), time.sleep(3600)), name="py-sleeper", daemon=True).start()
started.wait()
