"""The evidence a decision rests on: the tables as of the decision's moment, as
``ExperimentStats``.

``analysis/point_in_time.py`` reads ClickHouse (every table cut at the moment, one row per
request id); this module turns its rows into both variants' statistics, the shadow pairs
and the split per period of constant planned share (the share history from the ledger),
leaving out of the split test the requests within ``share_settle_s`` of a change.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from analysis.point_in_time import (
    COUNT_SUMS,
    CountRow,
    Cut,
    LatencyBounds,
    Ranks,
    count_rows,
    latency_bounds,
)
from plumbing.clickhouse import ClickHouse
from promoter.experiment import ExperimentStats, PairedStats, VariantStats
from promoter.policy import Policy
from promoter.sequential import PeriodCounts, point_rank, quantile_ranks
from promoter.shares import ShareHistory

#: The latency quantile the guardrail compares.
LATENCY_QUANTILE = 0.95
#: Before any experiment: the default lower bound of a query's time range.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """Which requests an evaluation reads: one experiment id, from ``since`` to ``until``."""

    experiment_id: str
    until: datetime
    since: datetime = EPOCH


def experiment_stats(
    clickhouse: ClickHouse,
    database: str,
    window: Window,
    *,
    shares: ShareHistory,
    policy: Policy,
) -> ExperimentStats:
    """Both variants' statistics, the shadow pairs and the split per period, as of ``until``.

    ``prod`` and ``candidate`` are the variants as routed (prod slot, candidate slot); a
    watch swaps them afterwards (``ExperimentStats.swapped``).
    """
    shares = shares.until(window.until)
    cut = Cut(
        experiment_id=window.experiment_id,
        since=window.since,
        until=window.until,
        changes=[change.effective_at for change in shares.changes],
        settle_s=policy.share_settle_s,
    )
    rows = count_rows(clickhouse, database, cut)
    totals = {v: _total(rows, v) for v in ("prod", "candidate")}
    latency = _latency(clickhouse, database, cut, totals, policy)
    starts = [r.first_at for r in rows]
    # No request yet: the experiment starts now, as far as its duration is concerned.
    started_at = min(_utc(min(starts)), window.until) if starts else window.until
    return ExperimentStats(
        experiment_id=window.experiment_id,
        prod=_variant(totals["prod"], latency.get("prod")),
        candidate=_variant(totals["candidate"], latency.get("candidate")),
        expected_candidate_share=shares.share_at(window.until),
        started_at=started_at,
        now=window.until,
        paired=_paired(totals["prod"]),
        periods=_periods(rows, shares),
        share_since=shares.since(window.until, start=started_at),
    )


def _total(rows: list[CountRow], variant: str) -> dict[str, float]:
    mine = [r for r in rows if r.variant == variant]
    return {name: sum(r.sums[name] for r in mine) for name in COUNT_SUMS}


def _latency(
    clickhouse: ClickHouse,
    database: str,
    cut: Cut,
    totals: dict[str, dict[str, float]],
    policy: Policy,
) -> dict[str, LatencyBounds]:
    """Each variant's p95 latency and its anytime-valid bounds (order statistics)."""
    ranks: dict[str, Ranks] = {}
    for variant in ("prod", "candidate"):
        n = int(totals[variant]["replied"])
        low, high = quantile_ranks(
            n,
            quantile=LATENCY_QUANTILE,
            alpha=policy.guardrail_alpha,
            target_n=policy.guardrail_target_requests,
        )
        ranks[variant] = Ranks(point_rank(n, LATENCY_QUANTILE), int(low), int(high))
    if not any(int(totals[v]["replied"]) for v in totals):
        return {}
    return latency_bounds(clickhouse, database, cut, ranks)


def _variant(total: dict[str, float], latency: LatencyBounds | None) -> VariantStats:
    return VariantStats(
        requests=int(total["requests"]),
        errors=int(total["errors"]),
        latency_p95_ms=latency.point_ms if latency else float("nan"),
        feedback_count=int(total["feedback_count"]),
        abs_error_sum=total["abs_error_sum"],
        abs_error_sq_sum=total["abs_error_sq_sum"],
        latency_p95_lower_ms=latency.lower_ms if latency else float("-inf"),
        latency_p95_upper_ms=latency.upper_ms if latency else float("inf"),
    )


def _paired(prod: dict[str, float]) -> PairedStats | None:
    """Shadow pairs are prod's requests mirrored to the candidate slot; None without any."""
    n = int(prod["pairs"])
    if n == 0:
        return None
    return PairedStats(
        n=n,
        diff_sum=prod["diff_sum"],
        diff_sq_sum=prod["diff_sq_sum"],
        prod_abs_error_sum=prod["pair_prod_sum"],
        candidate_abs_error_sum=prod["pair_candidate_sum"],
    )


def _periods(rows: list[CountRow], shares: ShareHistory) -> tuple[PeriodCounts, ...]:
    """Requests per variant in each period of constant share, settling requests left out."""
    counted: dict[int, dict[str, int]] = {}
    for row in rows:
        if row.settling:
            continue
        period = counted.setdefault(row.period, {"prod": 0, "candidate": 0})
        if row.variant in period:
            period[row.variant] += int(row.sums["requests"])
    return tuple(
        PeriodCounts(shares.share_of_period(index), arms["prod"], arms["candidate"])
        for index, arms in sorted(counted.items())
    )


def _utc(moment: Any) -> datetime:
    stamp = pd.Timestamp(moment)
    utc: datetime = (
        stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    ).to_pydatetime()
    return utc
