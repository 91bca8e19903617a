"""The evidence a decision rests on, read from ClickHouse (the authority, not Faust).

The counts come from the views of ``schemas/clickhouse/views.sql`` (one row per
request id, so a re-delivered event never counts twice). A request still inside its
deadline without a reply is not an error: the reply may be on its way to the sink.
"""

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from plumbing.clickhouse import ClickHouse
from promoter.policy import ExperimentStats, PairedStats, VariantStats

_VARIANT_SQL = """
SELECT
  variant,
  count() AS requests,
  countIf(is_error) AS errors,
  quantileExactInclusive(0.95)(latency_ms) AS latency_p95_ms,
  countIf(abs_error IS NOT NULL) AS feedback_count,
  sum(abs_error) AS abs_error_sum,
  sum(abs_error * abs_error) AS abs_error_sq_sum,
  min(occurred_at) AS started_at
FROM {db}.v_served_requests
WHERE experiment_id = {{experiment:String}} AND occurred_at <= {{until:DateTime64(3, 'UTC')}}
GROUP BY variant
"""

_PAIRED_SQL = """
SELECT pairs AS n, diff_sum, diff_sq_sum
FROM {db}.v_paired WHERE experiment_id = {{experiment:String}}
"""

_FEEDBACK = """
    SELECT request_id, argMax(actual_price_lakhs, occurred_at) AS actual, 1 AS has_feedback
    FROM {db}.feedback
    WHERE actual_price_lakhs IS NOT NULL AND occurred_at <= {{until:DateTime64(3, 'UTC')}}
    GROUP BY request_id
"""

_VERSION_SQL = """
WITH
  rep AS (
    SELECT request_id, model_version AS version, status AS reply_status,
           price_lakhs AS price, predict_ms + queued_ms AS latency_ms
    FROM {db}.replies
    WHERE NOT shadow AND occurred_at <= {{until:DateTime64(3, 'UTC')}} AND (
      (model_version = {{new:String}} AND occurred_at >= {{since:DateTime64(3, 'UTC')}})
      OR (model_version = {{old:String}} AND occurred_at < {{since:DateTime64(3, 'UTC')}}
          AND occurred_at >= {{since:DateTime64(3, 'UTC')}}
                             - INTERVAL {{lookback_s:UInt32}} SECOND))
    ORDER BY request_id, occurred_at, event_id
    LIMIT 1 BY request_id),
  fb AS ({feedback})
SELECT
  rep.version AS model_version,
  count() AS requests,
  countIf(rep.reply_status != 'ok') AS errors,
  quantile(0.95)(rep.latency_ms) AS latency_p95_ms,
  countIf(fb.has_feedback = 1 AND rep.reply_status = 'ok') AS feedback_count,
  sumIf(abs(fb.actual - rep.price), fb.has_feedback = 1 AND rep.reply_status = 'ok')
    AS abs_error_sum,
  sumIf(pow(fb.actual - rep.price, 2), fb.has_feedback = 1 AND rep.reply_status = 'ok')
    AS abs_error_sq_sum
FROM rep
LEFT JOIN fb ON fb.request_id = rep.request_id
GROUP BY rep.version
"""

EMPTY = VariantStats(
    requests=0,
    errors=0,
    latency_p95_ms=0.0,
    feedback_count=0,
    abs_error_sum=0.0,
    abs_error_sq_sum=0.0,
)


def _variant_stats(row: dict[str, Any]) -> VariantStats:
    p95 = row.get("latency_p95_ms")
    return VariantStats(
        requests=int(row["requests"]),
        errors=int(row["errors"]),
        latency_p95_ms=_number(p95),
        feedback_count=int(row["feedback_count"]),
        abs_error_sum=_number(row["abs_error_sum"]),
        abs_error_sq_sum=_number(row["abs_error_sq_sum"]),
    )


def _rows(frame: pd.DataFrame, key: str) -> dict[str, dict[str, Any]]:
    return {str(r[key]): r for r in frame.to_dict("records")}


def experiment_stats(
    clickhouse: ClickHouse,
    database: str,
    *,
    experiment_id: str,
    expected_candidate_share: float,
    now: datetime | None = None,
) -> ExperimentStats:
    """Both variants' statistics for one experiment, and the paired shadow statistics.

    Requests count up to ``now`` (a replay's point in time); the paired sums are the
    view's, over all recorded pairs.
    """
    now = now or datetime.now(UTC)
    params = {"experiment": experiment_id, "until": _ch_time(now)}
    by_variant = _rows(clickhouse.query_df(_VARIANT_SQL.format(db=database), params), "variant")
    paired_sql = _PAIRED_SQL.format(db=database)
    paired = clickhouse.query_df(paired_sql, {"experiment": experiment_id}).to_dict("records")
    starts = [r["started_at"] for r in by_variant.values()]
    return ExperimentStats(
        experiment_id=experiment_id,
        prod=_variant_stats(by_variant["prod"]) if "prod" in by_variant else EMPTY,
        candidate=_variant_stats(by_variant["candidate"]) if "candidate" in by_variant else EMPTY,
        expected_candidate_share=expected_candidate_share,
        started_at=_utc(min(starts)) if starts else now,
        now=now,
        paired=_paired(paired[0]) if paired and int(paired[0]["n"]) > 0 else None,
    )


def watch_stats(
    clickhouse: ClickHouse,
    database: str,
    *,
    previous: str,
    current: str,
    promoted_at: datetime,
    lookback_s: int,
    now: datetime | None = None,
) -> ExperimentStats:
    """The new best ("candidate") against the version it replaced ("prod").

    The previous version's figures come from the ``lookback_s`` before the promotion; the
    new one's from since the promotion. One row per request: its first reply.
    """
    now = now or datetime.now(UTC)
    params = {
        "old": previous,
        "new": current,
        "since": _ch_time(promoted_at),
        "until": _ch_time(now),
        "lookback_s": lookback_s,
    }
    fmt = {"db": database, "feedback": _FEEDBACK.format(db=database)}
    by_version = _rows(clickhouse.query_df(_VERSION_SQL.format(**fmt), params), "model_version")
    return ExperimentStats(
        experiment_id=f"watch:{current}",
        prod=_variant_stats(by_version[previous]) if previous in by_version else EMPTY,
        candidate=_variant_stats(by_version[current]) if current in by_version else EMPTY,
        expected_candidate_share=0.0,
        started_at=promoted_at,
        now=now,
        paired=None,
    )


def _paired(row: dict[str, Any]) -> PairedStats:
    return PairedStats(
        n=int(row["n"]), diff_sum=_number(row["diff_sum"]), diff_sq_sum=_number(row["diff_sq_sum"])
    )


def _number(value: Any) -> float:
    """A float from a query cell; NULL and NaN (an empty aggregate) become 0."""
    return 0.0 if value is None or pd.isna(value) else float(value)


def _ch_time(moment: datetime) -> str:
    """A UTC moment as ClickHouse's DateTime64(3) parameter text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _utc(moment: Any) -> datetime:
    stamp = pd.Timestamp(moment)
    return (
        stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    ).to_pydatetime()
