"""Drift that acts: which hour is read, what passes the policy, each alert once."""

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from promoter.drift import DriftRule, DriftWatch, HourlyPsi, drifted, hour_to_read
from promoter.metrics import PromoterMetrics

RULE = DriftRule(psi_threshold=0.25, min_requests=200)
HOUR = datetime(2026, 12, 5, 13, tzinfo=UTC)


def _row(feature: str, psi: float, requests: int = 500, version: str = "m-2") -> HourlyPsi:
    return HourlyPsi("prod", version, feature, HOUR, requests, psi)


class HourlyViewStandIn:
    """Answers the hourly drift query with canned rows, and records what it was asked."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.asked: list[dict[str, Any]] = []

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        assert "v_drift_psi_hourly" in sql
        self.asked.append(dict(params or {}))
        return pd.DataFrame(
            self.rows, columns=["variant", "model_version", "feature", "requests", "psi"]
        )


def _gauges(metrics: PromoterMetrics) -> dict[tuple[str, ...], float]:
    text = metrics.render().decode()
    return {
        (s.labels["variant"], s.labels["model_version"], s.labels["feature"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "splitstream_promoter_drift_psi"
        for s in family.samples
    }


def test_the_hour_read_is_the_last_complete_one_once_it_settled() -> None:
    assert hour_to_read(datetime(2026, 12, 5, 14, 1, tzinfo=UTC)) == datetime(
        2026, 12, 5, 12, tzinfo=UTC
    )
    assert hour_to_read(datetime(2026, 12, 5, 14, 3, tzinfo=UTC)) == HOUR
    assert hour_to_read(datetime(2026, 12, 5, 14, 59, tzinfo=UTC)) == HOUR


def test_only_a_psi_over_the_threshold_on_enough_requests_drifted() -> None:
    rows = [_row("location", 0.41), _row("bath", 0.25), _row("bhk", 0.9, requests=199)]

    assert drifted(rows, RULE) == [rows[0]]


def test_an_hour_is_read_once_exported_and_each_drift_alerted_once() -> None:
    clickhouse = HourlyViewStandIn(
        [
            {
                "variant": "prod",
                "model_version": "m-2",
                "feature": "location",
                "requests": 612,
                "psi": 0.41,
            },
            {
                "variant": "prod",
                "model_version": "m-2",
                "feature": "bath",
                "requests": 612,
                "psi": 0.02,
            },
        ]
    )
    metrics = PromoterMetrics(evaluate_every_s=30)
    watch = DriftWatch(clickhouse, database="db", rule=RULE, metrics=metrics)  # type: ignore[arg-type]
    now = datetime(2026, 12, 5, 14, 10, tzinfo=UTC)

    first = watch.check("exp-1:m-2", now)
    again = watch.check("exp-1:m-2", now.replace(minute=40))

    assert [(a.kind, a.experiment_id, a.p_value) for a in first] == [("drift", "exp-1:m-2", None)]
    assert first[0].message.startswith(
        "location drifted for m-2 (prod): PSI 0.41 over 612 requests"
    )
    assert (
        "13:00 to 14:00 UTC" in first[0].message and "above the policy's 0.25" in first[0].message
    )
    assert again == [] and len(clickhouse.asked) == 1
    assert clickhouse.asked[0] == {"experiment": "exp-1:m-2", "hour": HOUR}
    assert _gauges(metrics) == {("prod", "m-2", "location"): 0.41, ("prod", "m-2", "bath"): 0.02}


def test_the_next_hour_replaces_the_gauges_and_alerts_again() -> None:
    clickhouse = HourlyViewStandIn(
        [
            {
                "variant": "prod",
                "model_version": "m-2",
                "feature": "location",
                "requests": 612,
                "psi": 0.41,
            }
        ]
    )
    metrics = PromoterMetrics(evaluate_every_s=30)
    watch = DriftWatch(clickhouse, database="db", rule=RULE, metrics=metrics)  # type: ignore[arg-type]
    watch.check("exp-1:m-2", datetime(2026, 12, 5, 14, 10, tzinfo=UTC))
    clickhouse.rows = [
        {
            "variant": "prod",
            "model_version": "m-3",
            "feature": "location",
            "requests": 300,
            "psi": 0.3,
        }
    ]

    later = watch.check("exp-1:m-2", datetime(2026, 12, 5, 15, 10, tzinfo=UTC))

    assert len(later) == 1 and "m-3" in later[0].message
    assert _gauges(metrics) == {("prod", "m-3", "location"): 0.3}
