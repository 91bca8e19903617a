"""Background services yield the CPU to the request path.

The sink's inserts and the Faust agent's batches arrive as bursts of CPU; on cores they
share with the gateway and the predictors, each burst delays the predictions in flight.
With a higher niceness they still get every cycle the request path leaves idle, but when
both want the CPU the scheduler favours the request path (CFS weights: a nice-10 process
gets about a tenth of a nice-0 one's share).
"""

import logging
import os

log = logging.getLogger(__name__)


def yield_to_request_path(niceness: int) -> None:
    """Add ``niceness`` to this process's own (0 leaves it alone)."""
    if niceness <= 0:
        return
    try:
        now = os.nice(niceness)
    except OSError as error:  # a sandbox that forbids it: run at the normal priority
        log.warning("could not lower this process's CPU priority: %s", error)
        return
    log.info("CPU niceness %d: the request path comes first", now)
