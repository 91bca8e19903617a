"""Failpoints: named places where a chaos test makes the process die on the spot.

``SPLITSTREAM_FAILPOINTS=promoter.after_routing_write`` makes a process SIGKILL itself
when it reaches that point: no ``finally``, no flush, no group leave, as an OOM kill or
a lost machine would end it. The default, empty, arms none; a check is one string split.
"""

import logging
import os
import signal

from plumbing.settings import SplitstreamSettings

log = logging.getLogger(__name__)


def armed(settings: SplitstreamSettings) -> frozenset[str]:
    """The failpoint names of ``settings.failpoints`` (comma-separated)."""
    return frozenset(name.strip() for name in settings.failpoints.split(",") if name.strip())


def failpoint(settings: SplitstreamSettings, name: str) -> None:
    """SIGKILL this process here when ``name`` is armed; otherwise do nothing."""
    if name not in armed(settings):
        return
    # Logged first (stream handlers flush per record): the chaos test reads it in the log.
    log.warning("failpoint %s: SIGKILL to pid %d", name, os.getpid())
    os.kill(os.getpid(), signal.SIGKILL)
