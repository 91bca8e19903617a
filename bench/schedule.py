"""The load schedule every request-reply path gets: warm-up, fixed rates, max-rate search."""

import logging
import time
from collections.abc import Callable

from bench.findings import LoadFindings
from bench.results import FIXED_RATES_PER_S, RatePoint
from bench.search import max_sustained, search

log = logging.getLogger(__name__)

#: Runs one open-loop attack: (rate per s, duration s) -> what it measured.
Attack = Callable[[float, float], RatePoint]

WARMUP_RATE_PER_S = 100
#: Connections, cache-cold paths, Kafka metadata: measured, then dropped. 3 s left the
#: first fixed rate (100/s) with twice the p50 the same service showed at 94/s later.
WARMUP_S = 15.0
FIXED_RATE_S = 15.0
SEARCH_STEP_S = 8.0
SEARCH_MAX_STEPS = 4
SEARCH_CEILING_PER_S = 16_000.0
#: Lets a backlog from the previous rate drain so it is not charged to the next.
PAUSE_S = 2.0
#: The same after a rate that failed requests: an overload leaves work queued in the
#: gateway and in Kafka that would otherwise be charged to the next, lower rate.
OVERLOAD_PAUSE_S = 20.0


def run_schedule(name: str, attack: Attack) -> LoadFindings:
    """Warm up (dropped), the fixed rates, then the search for the highest sustained rate."""
    found = LoadFindings()
    attack(WARMUP_RATE_PER_S, WARMUP_S)

    def measure(rate: float, duration_s: float) -> RatePoint:
        last = list(found.points.values())[-1:]
        time.sleep(OVERLOAD_PAUSE_S if last and last[0].errors else PAUSE_S)
        point = attack(rate, duration_s)
        found.points[rate] = point
        log.info(
            "%s at %g/s: p50 %.2f p99 %.2f ms, %d errors, %.0f ok/s",
            name,
            rate,
            point.p50_ms,
            point.p99_ms,
            point.errors,
            point.throughput_per_s,
        )
        return point

    tried = {float(r): measure(float(r), FIXED_RATE_S).sustained for r in FIXED_RATES_PER_S}
    tried = search(
        lambda rate: measure(rate, SEARCH_STEP_S).sustained,
        tried=tried,
        start_per_s=float(FIXED_RATES_PER_S[0]),
        ceiling_per_s=SEARCH_CEILING_PER_S,
        max_steps=SEARCH_MAX_STEPS,
    )
    found.max_sustained_per_s = max_sustained(tried)
    return found
