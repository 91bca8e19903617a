"""Drift that acts: each feature's PSI per hour against the training distribution.

The promoter reads the last complete hour of ``v_drift_psi_hourly`` once, a few minutes
after the hour ends (the sink may still be writing it), for the running experiment:
it exports every (variant, model version, feature) as ``splitstream_promoter_drift_psi``,
and raises one ``experiment.alert`` of kind ``drift`` for each feature whose PSI passes the
policy's ``drift_psi_threshold`` on at least ``drift_min_requests`` requests (fewer
inflate PSI: about bins / requests of noise). The deciding functions are pure; the
``DriftWatch`` holds the clock-free state and the one query.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from plumbing.clickhouse import ClickHouse
from promoter.metrics import PromoterMetrics
from schemas.decision_events import ExperimentAlert

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
#: Read an hour this long after it ended: the sink writes within seconds, unless it lags.
SETTLE = timedelta(minutes=2)

_HOURLY_SQL = """
SELECT variant, model_version, feature, requests, psi
FROM {db}.v_drift_psi_hourly
WHERE experiment_id = {{experiment:String}} AND hour = {{hour:DateTime64(3, 'UTC')}}
ORDER BY variant, model_version, feature
"""


@dataclass(frozen=True)
class DriftRule:
    """The policy's drift settings."""

    psi_threshold: float
    min_requests: int


@dataclass(frozen=True)
class HourlyPsi:
    """One feature of one arm's model in one hour."""

    variant: str
    model_version: str
    feature: str
    hour: datetime
    requests: int
    psi: float

    def key(self, experiment_id: str) -> str:
        return "|".join(
            (experiment_id, self.variant, self.model_version, self.feature, self.hour.isoformat())
        )


def hour_to_read(now: datetime) -> datetime:
    """The last hour that ended at least ``SETTLE`` ago (its start, UTC)."""
    settled = now.astimezone(UTC) - SETTLE
    return settled.replace(minute=0, second=0, microsecond=0) - HOUR


def drifted(rows: Iterable[HourlyPsi], rule: DriftRule) -> list[HourlyPsi]:
    """The rows over the threshold, on enough requests to trust the PSI."""
    return [r for r in rows if r.requests >= rule.min_requests and r.psi > rule.psi_threshold]


def drift_message(row: HourlyPsi, rule: DriftRule) -> str:
    end = row.hour + HOUR
    return (
        f"{row.feature} drifted for {row.model_version} ({row.variant}): PSI {row.psi:.2f} "
        f"over {row.requests} requests from {row.hour:%Y-%m-%d %H:%M} to {end:%H:%M} UTC, "
        f"above the policy's {rule.psi_threshold:g}"
    )


class DriftWatch:
    """Reads each hour once per experiment, exports it, and makes each alert once."""

    def __init__(
        self,
        clickhouse: ClickHouse,
        *,
        database: str,
        rule: DriftRule,
        metrics: PromoterMetrics,
    ) -> None:
        self._clickhouse = clickhouse
        self._sql = _HOURLY_SQL.format(db=database)
        self._rule = rule
        self._metrics = metrics
        self._read: set[tuple[str, datetime]] = set()
        self._alerted: set[str] = set()
        metrics.drift_threshold.set(rule.psi_threshold)

    def check(self, experiment_id: str, now: datetime) -> list[ExperimentAlert]:
        """The alerts of the hour to read, the first time it is read for this experiment."""
        hour = hour_to_read(now)
        if (experiment_id, hour) in self._read:
            return []
        rows = self.hourly(experiment_id, hour)
        self._read.add((experiment_id, hour))
        self._export(rows)
        alerts = []
        for row in drifted(rows, self._rule):
            key = row.key(experiment_id)
            if key in self._alerted:
                continue
            self._alerted.add(key)
            alerts.append(
                ExperimentAlert.create(
                    experiment_id=experiment_id,
                    kind="drift",
                    message=drift_message(row, self._rule),
                    p_value=None,
                )
            )
        return alerts

    def hourly(self, experiment_id: str, hour: datetime) -> list[HourlyPsi]:
        """The hour's PSI of every arm's model and feature."""
        frame = self._clickhouse.query_df(self._sql, {"experiment": experiment_id, "hour": hour})
        return [
            HourlyPsi(
                variant=str(r.variant),
                model_version=str(r.model_version),
                feature=str(r.feature),
                hour=hour,
                requests=int(r.requests),
                psi=float(r.psi),
            )
            for r in frame.itertuples()
        ]

    def _export(self, rows: list[HourlyPsi]) -> None:
        """The gauge holds the hour just read, nothing older (versions come and go)."""
        self._metrics.drift_psi.clear()
        for row in rows:
            self._metrics.drift_psi.labels(row.variant, row.model_version, row.feature).set(row.psi)
