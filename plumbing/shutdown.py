"""Stopping a worker's loop cleanly on SIGTERM or SIGINT."""

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (only the main thread may install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(_signum: int, _frame: object) -> None:
        # Set it from another thread: the handler runs on the main thread, which may hold
        # the Event's lock (inside stop.wait) at that instant, and the lock is not re-entrant.
        threading.Thread(target=stop.set, name="stop").start()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
