"""The dashboard's data: ClickHouse views and the promoter's ledger, read off the event loop.

Many browsers refresh every few seconds, so one answer is kept for ``ttl_s`` per
experiment and split, and concurrent requests wait for the same read. Whatever cannot be
read (the sink is down, Kafka is slow) is named in ``unavailable``; the rest is still
answered, so the page keeps working.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analysis.thresholds import VARIANTS
from analysis.views import ExperimentViews, checked_database, records
from clients.ledger_reader import read_ledger
from clients.sink_query import open_clickhouse_reader
from gateway import dashboard_rows as rows
from gateway.dashboard_schemas import DashboardOut, SrmOut
from gateway.schemas import ExperimentOut
from gateway.settings import GatewaySettings
from schemas.decision_events import LedgerRecord

log = logging.getLogger(__name__)

#: One answer serves every browser for this long.
CACHE_TTL_S = 2.0
#: The dashboard gives up on the ledger after this long (the promoter waits longer).
LEDGER_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ViewRows:
    """The running experiment's rows of each view, as dicts."""

    summary: list[dict[str, Any]]
    minutes: list[dict[str, Any]]
    srm: list[dict[str, Any]]
    drift: list[dict[str, Any]]


def read_views(
    settings: GatewaySettings, *, experiment_id: str, candidate_share: float
) -> ViewRows:
    """Query each view for one experiment (blocking: call it in a thread).

    Raises:
        SplitstreamError: the sink or ClickHouse did not answer or refused a query.
    """
    # Checked before a reader is opened, so a bad name costs no connection.
    database = checked_database(settings.clickhouse_database)
    clickhouse = open_clickhouse_reader(settings)
    try:
        views = ExperimentViews(clickhouse, database=database, experiment_id=experiment_id)
        return ViewRows(
            summary=records(views.summary()),
            minutes=records(views.minutes(rows.SERIES_MINUTES * len(VARIANTS))),
            srm=records(views.srm(candidate_share)),
            drift=records(views.drift()),
        )
    finally:
        clickhouse.close()


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class _Cached:
    key: str
    at_s: float
    answer: DashboardOut


class DashboardSource:
    """Builds ``DashboardOut`` for the current experiment, at most once per ``ttl_s``."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        views: Callable[..., ViewRows] = read_views,
        ledger: Callable[..., list[LedgerRecord]] = read_ledger,
        kafka_up: Callable[[], bool] = lambda: True,
    ) -> None:
        self._settings = settings
        self._ttl_s = ttl_s
        self._clock = clock
        self._views = views
        self._ledger = ledger
        self._kafka_up = kafka_up
        self._lock = asyncio.Lock()
        self._cached: _Cached | None = None

    async def current(self, experiment: ExperimentOut) -> DashboardOut:
        """The dashboard of ``experiment`` (as /v1/experiment shows it), at most ``ttl_s`` old."""
        key = experiment.model_dump_json()  # new slots, split or generation: read again
        async with self._lock:  # concurrent browsers wait for one read instead of each reading
            cached = self._cached
            if cached and cached.key == key and self._clock() - cached.at_s < self._ttl_s:
                return cached.answer
            answer = await self._build(experiment)
            self._cached = _Cached(key, self._clock(), answer)
            return answer

    def _read_ledger(self) -> list[LedgerRecord]:
        # Without Kafka a read only times out; say so at once instead of holding the page.
        if not self._kafka_up():
            raise ConnectionError("Kafka is not reachable from the gateway")
        return self._ledger(self._settings, timeout_s=LEDGER_TIMEOUT_S)

    async def _build(self, experiment: ExperimentOut) -> DashboardOut:
        views, records = await asyncio.gather(
            asyncio.to_thread(
                self._views,
                self._settings,
                experiment_id=experiment.experiment_id,
                candidate_share=experiment.candidate_share,
            ),
            asyncio.to_thread(self._read_ledger),
            return_exceptions=True,
        )
        unavailable: dict[str, str] = {}
        # Any failure of a source is reported on the page, never raised: the page must load.
        if isinstance(views, BaseException):
            log.warning("dashboard: ClickHouse unavailable: %s", views)
            unavailable["clickhouse"] = _reason(views)
            views = ViewRows([], [], [], [])
        if isinstance(records, BaseException):
            log.warning("dashboard: ledger unavailable: %s", records)
            unavailable["ledger"] = _reason(records)
            records = []
        return _answer(experiment, views, records, unavailable)


def _answer(
    experiment: ExperimentOut,
    views: ViewRows,
    records: list[LedgerRecord],
    unavailable: dict[str, str],
) -> DashboardOut:
    variants = rows.sorted_variants(views.summary)
    minutes = rows.minute_rows(views.minutes)
    srm: SrmOut | None = rows.srm_result(views.srm[0]) if views.srm else None
    return DashboardOut(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        experiment=experiment,
        variants=variants,
        mae_interval=rows.MAE_INTERVAL,
        minutes=minutes,
        srm=srm,
        drift=rows.drift_rows(views.drift),
        decisions=rows.decisions(records),
        charts=rows.charts(variants, minutes),
        unavailable=unavailable,
    )
