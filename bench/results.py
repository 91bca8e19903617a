"""What the bench measures, as plain data: latency at one rate, and the rows of the table."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: The fixed open-loop rates of every request-reply measurement, in requests per second.
FIXED_RATES_PER_S = (100, 300, 1000)
#: A rate is sustained when its p99 stays under this and nothing failed.
SUSTAINED_P99_MS = 100.0
#: ... and when the answers kept up with the schedule (open loop: a backlog shows here).
SUSTAINED_THROUGHPUT_SHARE = 0.95


def percentile_ms(latencies_ns: Sequence[int], q: float) -> float:
    """The ``q`` quantile (0..1) of ``latencies_ns``, nearest rank, in ms; NaN when empty."""
    if not latencies_ns:
        return math.nan
    ordered = sorted(latencies_ns)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1] / 1e6


def ms_text(value: float) -> str:
    """A latency in ms for the table, one decimal; "n/a" for NaN (nothing was measured)."""
    return "n/a" if math.isnan(value) else f"{value:.1f}"


@dataclass(frozen=True)
class RatePoint:
    """One open-loop run at a fixed rate: latency of the valid replies, and the failures."""

    rate_per_s: float
    sent: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    #: Valid replies per second over the run, from the first send to the last reply.
    throughput_per_s: float

    @classmethod
    def from_latencies(
        cls, *, rate_per_s: float, sent: int, latencies_ns: Sequence[int], span_s: float
    ) -> "RatePoint":
        return cls(
            rate_per_s=rate_per_s,
            sent=sent,
            errors=sent - len(latencies_ns),
            p50_ms=percentile_ms(latencies_ns, 0.50),
            p95_ms=percentile_ms(latencies_ns, 0.95),
            p99_ms=percentile_ms(latencies_ns, 0.99),
            p999_ms=percentile_ms(latencies_ns, 0.999),
            throughput_per_s=len(latencies_ns) / span_s if span_s > 0 else 0.0,
        )

    @property
    def sustained(self) -> bool:
        """No failure, p99 under the bound, and the replies kept pace with the schedule."""
        return (
            self.sent > 0
            and self.errors == 0
            and self.p99_ms < SUSTAINED_P99_MS
            and self.throughput_per_s >= SUSTAINED_THROUGHPUT_SHARE * self.rate_per_s
        )


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    measurement: str
    setting: str
    result: str
    target: str = ""
    met: bool | None = None  # None: no target, or it could not be judged
