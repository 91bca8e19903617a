"""The highest sustained rate: double from the best rate that held, then bisect.

Pure: it takes what was tried and returns the next rate to try, so the steps are
unit-tested without a server.
"""

from collections.abc import Callable, Mapping

#: Stop bisecting once the bracket is this narrow, relative to its lower end.
BRACKET_PRECISION = 0.10
#: No rate below this is tried: under it the system is broken, not slow.
MIN_RATE_PER_S = 25.0


def next_rate(
    tried: Mapping[float, bool], *, start_per_s: float, ceiling_per_s: float
) -> float | None:
    """The next rate to try given ``tried`` (rate -> sustained), or None when the search is done.

    Doubles the highest sustained rate until one fails (capped at ``ceiling_per_s``),
    then bisects between the highest that held and the lowest above it that failed.
    """
    if not tried:
        return start_per_s
    held = [rate for rate, ok in tried.items() if ok]
    best = max(held, default=None)
    failed_above = [rate for rate, ok in tried.items() if not ok and (best is None or rate > best)]
    lowest_failure = min(failed_above, default=None)
    if lowest_failure is None:
        assert best is not None
        doubled = min(best * 2, ceiling_per_s)
        return None if doubled <= best else doubled
    low = best if best is not None else 0.0
    if low == 0.0 and lowest_failure / 2 < MIN_RATE_PER_S:
        return None
    if low > 0 and (lowest_failure - low) / low <= BRACKET_PRECISION:
        return None
    return float(round((low + lowest_failure) / 2))


def max_sustained(tried: Mapping[float, bool]) -> float:
    """The highest rate that held; 0 when none did."""
    return max((rate for rate, ok in tried.items() if ok), default=0.0)


def search(
    sustains: Callable[[float], bool],
    *,
    tried: Mapping[float, bool],
    start_per_s: float,
    ceiling_per_s: float,
    max_steps: int,
) -> dict[float, bool]:
    """Run ``sustains(rate)`` for at most ``max_steps`` new rates; returns every rate tried."""
    seen = dict(tried)
    for _ in range(max_steps):
        rate = next_rate(seen, start_per_s=start_per_s, ceiling_per_s=ceiling_per_s)
        if rate is None or rate in seen:
            break
        seen[rate] = sustains(rate)
    return seen
