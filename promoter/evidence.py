"""The evidence a decision rests on, read from ClickHouse (the authority, not Faust).

Point in time: every table is cut at the moment of the decision, both by when an event
happened (``occurred_at``) and by when ClickHouse got it (``_ingested_at``), so a replay
at an earlier moment sees exactly what existed then; late or backdated feedback cannot
leak in. One row per request id (its first request event, first reply, first shadow
reply, and its first priced feedback: later ones are corrections, never counted), as in
the views.

A request still inside its deadline without a reply is not an error: the reply may be on
its way to the sink. Requests are counted per period of constant planned share (the
share history from the ledger), and those within ``share_settle_s`` of a change are left
out of the split test (gateways take a new share up within seconds, not at once).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from plumbing.clickhouse import ClickHouse
from promoter.experiment import ExperimentStats, PairedStats, VariantStats
from promoter.policy import Policy
from promoter.sequential import PeriodCounts, point_rank, quantile_ranks
from promoter.shares import ShareHistory

#: The latency quantile the guardrail compares.
LATENCY_QUANTILE = 0.95
#: Before any experiment: the default lower bound of a query's time range.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

#: Every table is cut at the moment: when the event happened, and when ClickHouse had it.
_CUT = (
    "occurred_at <= {{until:DateTime64(3, 'UTC')}} "
    "AND _ingested_at <= {{until:DateTime64(3, 'UTC')}}"
)

_REQUESTS = """
  q AS (
    SELECT request_id, variant, occurred_at, deadline_at
    FROM {db}.requests
    WHERE experiment_id = {{experiment:String}} AND NOT shadow AND <cut>
      AND occurred_at >= {{since:DateTime64(3, 'UTC')}}
    ORDER BY request_id, occurred_at, event_id
    LIMIT 1 BY request_id),
  r AS (
    SELECT request_id, toUInt8(1) AS has_reply, occurred_at AS replied_at, status, price_lakhs
    FROM {db}.replies
    WHERE experiment_id = {{experiment:String}} AND NOT shadow AND <cut>
    ORDER BY request_id, occurred_at, event_id
    LIMIT 1 BY request_id)""".replace("<cut>", _CUT)

_FEEDBACK_AND_SHADOWS = """
  f AS (
    SELECT request_id, toUInt8(1) AS has_feedback, actual_price_lakhs AS actual
    FROM {db}.feedback
    WHERE actual_price_lakhs IS NOT NULL AND <cut>
      AND request_id IN (SELECT request_id FROM q)
    ORDER BY request_id, occurred_at, event_id
    LIMIT 1 BY request_id),
  s AS (
    SELECT request_id, toUInt8(1) AS has_shadow, price_lakhs AS shadow_price
    FROM {db}.replies
    WHERE experiment_id = {{experiment:String}} AND shadow AND slot = 'candidate'
      AND status = 'ok' AND <cut>
    ORDER BY request_id, occurred_at, event_id
    LIMIT 1 BY request_id)""".replace("<cut>", _CUT)

_COUNTS_SQL = (
    "WITH"
    + _REQUESTS
    + ","
    + _FEEDBACK_AND_SHADOWS
    + """,
  j AS (
    SELECT
      q.variant AS variant,
      q.occurred_at AS occurred_at,
      toUnixTimestamp64Milli(q.occurred_at) AS at_ms,
      r.has_reply = 1 AS replied,
      (r.has_reply = 1 AND r.status != 'ok')
        OR (r.has_reply = 0 AND q.deadline_at < {{until:DateTime64(3, 'UTC')}}) AS is_error,
      r.has_reply = 1 AND r.status = 'ok' AND f.has_feedback = 1 AS judged,
      abs(r.price_lakhs - f.actual) AS abs_error,
      judged AND s.has_shadow = 1 AS paired,
      abs(s.shadow_price - f.actual) AS shadow_abs_error,
      abs_error - shadow_abs_error AS diff
    FROM q
    LEFT JOIN r ON r.request_id = q.request_id
    LEFT JOIN f ON f.request_id = q.request_id
    LEFT JOIN s ON s.request_id = q.request_id)
SELECT
  variant,
  arrayCount(b -> b <= at_ms, {{changes_ms:Array(Int64)}}) AS period,
  arrayExists(b -> at_ms >= b AND at_ms < b + {{settle_ms:Int64}},
              {{changes_ms:Array(Int64)}}) AS settling,
  count() AS requests,
  countIf(is_error) AS errors,
  countIf(replied) AS replied,
  countIf(judged) AS feedback_count,
  coalesce(sumIf(abs_error, judged), 0) AS abs_error_sum,
  coalesce(sumIf(abs_error * abs_error, judged), 0) AS abs_error_sq_sum,
  countIf(paired) AS pairs,
  coalesce(sumIf(diff, paired), 0) AS diff_sum,
  coalesce(sumIf(diff * diff, paired), 0) AS diff_sq_sum,
  coalesce(sumIf(abs_error, paired), 0) AS pair_prod_sum,
  coalesce(sumIf(shadow_abs_error, paired), 0) AS pair_candidate_sum,
  min(occurred_at) AS first_at
FROM j
GROUP BY variant, period, settling
"""
)

_LATENCY_SQL = (
    "WITH"
    + _REQUESTS
    + """
SELECT
  q.variant AS variant,
  arraySort(groupArray(
    toFloat64(toUnixTimestamp64Milli(r.replied_at) - toUnixTimestamp64Milli(q.occurred_at))
  )) AS sorted,
  arrayElement(sorted, if(variant = 'prod', {{prod_point:UInt64}}, {{cand_point:UInt64}}))
    AS point_ms,
  arrayElement(sorted, if(variant = 'prod', {{prod_low:UInt64}}, {{cand_low:UInt64}}))
    AS lower_ms,
  arrayElement(sorted, if(variant = 'prod', {{prod_high:UInt64}}, {{cand_high:UInt64}}))
    AS upper_ms
FROM q INNER JOIN r ON r.request_id = q.request_id
GROUP BY variant
"""
)

_SUMS = (
    "requests",
    "errors",
    "replied",
    "feedback_count",
    "abs_error_sum",
    "abs_error_sq_sum",
    "pairs",
    "diff_sum",
    "diff_sq_sum",
    "pair_prod_sum",
    "pair_candidate_sum",
)


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
    params = _params(window, shares, policy)
    counts = clickhouse.query_df(_COUNTS_SQL.format(db=database), params)
    rows = counts.to_dict("records")
    totals = {v: _total(rows, v) for v in ("prod", "candidate")}
    latency = _latency(clickhouse, database, params, totals, policy)
    starts = [pd.Timestamp(r["first_at"]) for r in rows]
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


def _params(window: Window, shares: ShareHistory, policy: Policy) -> dict[str, Any]:
    return {
        "experiment": window.experiment_id,
        "since": ch_time(window.since),
        "until": ch_time(window.until),
        "changes_ms": [_ms(change.effective_at) for change in shares.changes],
        "settle_ms": int(policy.share_settle_s * 1000),
    }


def _total(rows: list[dict[str, Any]], variant: str) -> dict[str, float]:
    mine = [r for r in rows if r["variant"] == variant]
    return {name: sum(_number(r[name]) for r in mine) for name in _SUMS}


@dataclass(frozen=True)
class _Latency:
    point_ms: float
    lower_ms: float
    upper_ms: float


def _latency(
    clickhouse: ClickHouse,
    database: str,
    params: dict[str, Any],
    totals: dict[str, dict[str, float]],
    policy: Policy,
) -> dict[str, _Latency]:
    """Each variant's p95 latency and its anytime-valid bounds (order statistics)."""
    ranks: dict[str, tuple[int, int, int]] = {}
    for variant, prefix in (("prod", "prod"), ("candidate", "cand")):
        n = int(totals[variant]["replied"])
        lower, upper = quantile_ranks(
            n,
            quantile=LATENCY_QUANTILE,
            alpha=policy.guardrail_alpha,
            target_n=policy.guardrail_target_requests,
        )
        ranks[variant] = (point_rank(n, LATENCY_QUANTILE), int(lower), int(upper))
        params = {
            **params,
            f"{prefix}_point": ranks[variant][0],
            f"{prefix}_low": ranks[variant][1],
            f"{prefix}_high": ranks[variant][2],
        }
    if not any(int(totals[v]["replied"]) for v in totals):
        return {}
    frame = clickhouse.query_df(_LATENCY_SQL.format(db=database), params)
    found = {}
    for row in frame.to_dict("records"):
        variant = str(row["variant"])
        n = len(row["sorted"])
        point, low, high = ranks[variant]
        found[variant] = _Latency(
            point_ms=float(row["point_ms"]) if 1 <= point <= n else float("nan"),
            lower_ms=float(row["lower_ms"]) if 1 <= low <= n else float("-inf"),
            upper_ms=float(row["upper_ms"]) if 1 <= high <= n else float("inf"),
        )
    return found


def _variant(total: dict[str, float], latency: _Latency | None) -> VariantStats:
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


def _periods(rows: list[dict[str, Any]], shares: ShareHistory) -> tuple[PeriodCounts, ...]:
    """Requests per variant in each period of constant share, settling requests left out."""
    counted: dict[int, dict[str, int]] = {}
    for row in rows:
        if bool(row["settling"]):
            continue
        period = counted.setdefault(int(row["period"]), {"prod": 0, "candidate": 0})
        variant = str(row["variant"])
        if variant in period:
            period[variant] += int(_number(row["requests"]))
    return tuple(
        PeriodCounts(shares.share_of_period(index), arms["prod"], arms["candidate"])
        for index, arms in sorted(counted.items())
    )


def _number(value: Any) -> float:
    """A float from a query cell: NULL becomes 0, but NaN and infinities stay (the sums
    are coalesced in SQL, so a NaN here is real, and ``ExperimentStats.problems`` says so)."""
    return 0.0 if value is None or value is pd.NA else float(value)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def ch_time(moment: datetime) -> str:
    """A UTC moment as ClickHouse's DateTime64(3) parameter text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _utc(moment: Any) -> datetime:
    stamp = pd.Timestamp(moment)
    utc: datetime = (
        stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    ).to_pydatetime()
    return utc
