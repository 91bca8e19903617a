"""The tables as they stood at a moment: what a promotion decision rests on.

ClickHouse is the authority, not Faust. Every table is cut at the moment of the decision,
both by when an event happened (``occurred_at``) and by when ClickHouse got it
(``_ingested_at``), so a replay at an earlier moment sees exactly what existed then; late
or backdated feedback cannot leak in. One row per request id (its first request event,
first reply, first shadow reply, and its first priced feedback: later ones are
corrections, never counted), as in the views.

A request still inside its deadline without a reply is not an error: the reply may be on
its way to the sink. Requests are counted per period of constant planned share, and those
within ``settle_ms`` of a change are marked settling (gateways take a new share up within
seconds, not at once).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from plumbing.clickhouse import ClickHouse

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

#: The sums each row of ``count_rows`` carries (per variant, period and settling flag).
COUNT_SUMS = (
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
class Cut:
    """Which requests a read sees: one experiment, from ``since`` to ``until`` (both as
    occurred and as ingested), with the moments the planned share changed."""

    experiment_id: str
    since: datetime
    until: datetime
    changes: Sequence[datetime] = ()
    settle_s: float = 0.0

    def params(self) -> dict[str, Any]:
        """The queries' parameters."""
        return {
            "experiment": self.experiment_id,
            "since": ch_time(self.since),
            "until": ch_time(self.until),
            "changes_ms": [_ms(change) for change in self.changes],
            "settle_ms": int(self.settle_s * 1000),
        }


@dataclass(frozen=True)
class CountRow:
    """One variant's requests in one period of constant share (settling or not), and the
    sums over them; ``sums`` has every name of ``COUNT_SUMS``."""

    variant: str
    period: int
    settling: bool
    sums: Mapping[str, float]
    first_at: pd.Timestamp


@dataclass(frozen=True)
class Ranks:
    """1-based ranks of the sorted latencies: the quantile's point and its bounds."""

    point: int
    low: int
    high: int


@dataclass(frozen=True)
class LatencyBounds:
    """A latency quantile and its bounds in ms: NaN, -inf or +inf where a rank is out of
    the sample."""

    point_ms: float
    lower_ms: float
    upper_ms: float


def count_rows(clickhouse: ClickHouse, database: str, cut: Cut) -> list[CountRow]:
    """Requests, errors, feedback and shadow pairs per variant, period and settling flag.

    ``database`` comes from the settings and is put into the SQL text as it is.
    """
    sql = _COUNTS_SQL.format(db=database)
    frame = clickhouse.query_df(sql, cut.params())
    return [
        CountRow(
            variant=str(r["variant"]),
            period=int(r["period"]),
            settling=bool(r["settling"]),
            sums={name: _sum(r[name]) for name in COUNT_SUMS},
            first_at=pd.Timestamp(r["first_at"]),
        )
        for r in frame.to_dict("records")
    ]


def latency_bounds(
    clickhouse: ClickHouse, database: str, cut: Cut, ranks: Mapping[str, Ranks]
) -> dict[str, LatencyBounds]:
    """Each variant's latency at ``ranks`` of its sorted replied requests (order
    statistics); ``ranks`` names both variants."""
    params = cut.params()
    for variant, prefix in (("prod", "prod"), ("candidate", "cand")):
        # ClickHouse refuses index 0 (1-based arrays); a rank outside 1..n is read as
        # "no bound" below, so any valid index will do in the query.
        params[f"{prefix}_point"] = max(ranks[variant].point, 1)
        params[f"{prefix}_low"] = max(ranks[variant].low, 1)
        params[f"{prefix}_high"] = max(ranks[variant].high, 1)
    frame = clickhouse.query_df(_LATENCY_SQL.format(db=database), params)
    found = {}
    for row in frame.to_dict("records"):
        variant = str(row["variant"])
        n = len(row["sorted"])
        rank = ranks[variant]
        found[variant] = LatencyBounds(
            point_ms=float(row["point_ms"]) if 1 <= rank.point <= n else float("nan"),
            lower_ms=float(row["lower_ms"]) if 1 <= rank.low <= n else float("-inf"),
            upper_ms=float(row["upper_ms"]) if 1 <= rank.high <= n else float("inf"),
        )
    return found


def _sum(value: Any) -> float:
    """A float from a query cell: NULL becomes 0, but NaN and infinities stay (the sums
    are coalesced in SQL, so a NaN here is real, and the caller must say so)."""
    return 0.0 if value is None or value is pd.NA else float(value)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def ch_time(moment: datetime) -> str:
    """A UTC moment as ClickHouse's DateTime64(3) parameter text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
