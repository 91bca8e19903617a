"""What a decision reads: one experiment's (or watch's) evidence as plain numbers.

``promoter/evidence.py`` builds these from ClickHouse as of a moment; the simulation and
the tests build them by hand. ``problems`` names evidence no statistic can be computed
on (non-finite or absurdly large sums): the policy then waits and alerts instead of
deciding, or crashing.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime

from promoter.sequential import PeriodCounts
from promoter.statistics import SampleSums, error_rate

#: Largest magnitude a sum may have. Its square must stay finite (about 1.8e308) for the
#: variance; prices are lakhs, so any real sum is many orders of magnitude below this.
MAX_SUM = 1e100


@dataclass(frozen=True)
class VariantStats:
    """One variant's traffic and feedback, as of the moment of the decision.

    ``latency_p95_lower_ms`` and ``latency_p95_upper_ms`` are anytime-valid confidence
    bounds of its p95 latency (``sequential.quantile_ranks``); infinite while unknown.
    """

    requests: int
    errors: int
    latency_p95_ms: float
    feedback_count: int
    abs_error_sum: float
    abs_error_sq_sum: float
    latency_p95_lower_ms: float = -math.inf
    latency_p95_upper_ms: float = math.inf

    def __post_init__(self) -> None:
        if min(self.requests, self.errors, self.feedback_count) < 0 or self.errors > self.requests:
            raise ValueError(f"counts must be non-negative with errors <= requests: {self}")
        if self.abs_error_sum < 0 or self.abs_error_sq_sum < 0:
            raise ValueError(f"absolute-error sums must not be negative: {self}")

    @property
    def abs_errors(self) -> SampleSums:
        return SampleSums(self.feedback_count, self.abs_error_sum, self.abs_error_sq_sum)

    @property
    def error_rate(self) -> float:
        return error_rate(self.errors, self.requests)


@dataclass(frozen=True)
class PairedStats:
    """Shadow-scored requests with feedback: sums of |err_prod| - |err_candidate|.

    ``prod_abs_error_sum`` and ``candidate_abs_error_sum`` are each model's absolute
    errors on the same requests, so the MAEs shown beside a paired decision are the ones
    it compared (their difference is minus the mean difference).
    """

    n: int
    diff_sum: float
    diff_sq_sum: float
    prod_abs_error_sum: float | None = None
    candidate_abs_error_sum: float | None = None

    def __post_init__(self) -> None:
        if self.n < 0 or self.diff_sq_sum < 0:
            raise ValueError(f"n and the sum of squares must not be negative: {self}")

    @property
    def mae_prod(self) -> float | None:
        return _mean(self.prod_abs_error_sum, self.n)

    @property
    def mae_candidate(self) -> float | None:
        return _mean(self.candidate_abs_error_sum, self.n)

    def swapped(self) -> "PairedStats":
        """The same pairs with prod and candidate exchanged (a watch's arms run reversed)."""
        return PairedStats(
            self.n,
            -self.diff_sum,
            self.diff_sq_sum,
            self.candidate_abs_error_sum,
            self.prod_abs_error_sum,
        )


def _mean(total: float | None, n: int) -> float | None:
    return total / n if total is not None and n else None


@dataclass(frozen=True)
class ExperimentStats:
    """Everything a decision reads. ``prod`` is the incumbent, ``candidate`` the challenger
    (in a watch: the held-back previous best and the newly promoted version). ``paired`` is
    None when shadow scoring is off. Request counts exclude shadow requests.

    ``periods`` are the requests per period of constant planned share, for the split test;
    None means one period at ``expected_candidate_share`` holding every request.
    ``share_since`` is when the current share took effect (a ramp step's start).
    """

    experiment_id: str
    prod: VariantStats
    candidate: VariantStats
    expected_candidate_share: float
    started_at: datetime
    now: datetime
    paired: PairedStats | None = None
    periods: tuple[PeriodCounts, ...] | None = None
    share_since: datetime | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.expected_candidate_share <= 1:
            raise ValueError(
                f"expected_candidate_share must be in [0, 1], got {self.expected_candidate_share}"
            )
        if (self.started_at.tzinfo is None) != (self.now.tzinfo is None):
            raise ValueError("started_at and now must both be timezone-aware, or both naive")

    @property
    def elapsed_hours(self) -> float:
        return max((self.now - self.started_at).total_seconds() / 3600, 0.0)

    @property
    def hours_at_this_share(self) -> float:
        since = self.share_since or self.started_at
        return max((self.now - since).total_seconds() / 3600, 0.0)

    @property
    def split_periods(self) -> tuple[PeriodCounts, ...]:
        if self.periods is not None:
            return self.periods
        share = self.expected_candidate_share
        return (PeriodCounts(share, self.prod.requests, self.candidate.requests),)

    def swapped(self) -> "ExperimentStats":
        """Prod and candidate exchanged: in a watch the new best serves as ``prod`` and the
        held-back previous best from the candidate slot, but is judged as the challenger."""
        return replace(
            self,
            prod=self.candidate,
            candidate=self.prod,
            paired=self.paired.swapped() if self.paired else None,
        )

    def problems(self) -> list[str]:
        """Why no statistic can be computed on this evidence; empty when it is sound."""
        found = []
        for name, value in self._numbers():
            if not math.isfinite(value):
                found.append(f"{name} is {value}")
            elif abs(value) > MAX_SUM:
                found.append(f"{name} is {value:.3g}, beyond any real sum ({MAX_SUM:g})")
        return found

    def _numbers(self) -> Iterator[tuple[str, float]]:
        for arm in ("prod", "candidate"):
            stats = getattr(self, arm)
            yield f"{arm} absolute-error sum", stats.abs_error_sum
            yield f"{arm} squared-error sum", stats.abs_error_sq_sum
        if self.paired is not None:
            for item in fields(self.paired):
                value = getattr(self.paired, item.name)
                if isinstance(value, float):
                    yield f"paired {item.name}", value
