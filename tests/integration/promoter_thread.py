"""A promoter running in the test's process, for tests that need one to answer commands.

Share changes go through the promoter (``PUT /v1/admin/split`` is a command it executes
and records), so a test of the gateway's admin split needs one running. It reads the
test's own topics and bucket; without a sink its evaluations fail and are logged, which
is all those tests need.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cli.settings import Settings
from promoter.main import run_promoter

STOP_TIMEOUT_S = 30.0


@contextmanager
def running_promoter(settings: Settings) -> Iterator[None]:
    """Run ``splitstream promoter``'s loop in a thread until the block ends."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_promoter, args=(settings, stop), name="test-promoter", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=STOP_TIMEOUT_S)
        assert not thread.is_alive(), "the test's promoter did not stop"
