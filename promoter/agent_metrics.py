"""The Faust agent's Prometheus metrics, served on its web port at /metrics.

Counted once per batch, never per event (the agent pays per batch): the events it read
and skipped by event type, its batches and triggers, and how far behind its windows run
(``splitstream_agent_window_lag_seconds``: the age of a batch's newest event when the
batch was counted; about ``promoter_agent_batch_wait_s`` when live, more while catching
up). The trailing window's counts per arm are read from the pane table at scrape time.
Faust's own Prometheus sensor is not used: it runs on every message.
"""

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from promoter.window_tables import PaneTable, snapshot
from promoter.windows import WindowCounts

#: Help text of each window measure, by its name in WindowCounts.
WINDOW_MEASURES = {
    "requests": "Requests served",
    "errors": "Error replies",
    "latency_ms_sum": "Sum of reply latencies (ms)",
    "abs_error_sum": "Sum of absolute errors (lakhs) of replies with feedback",
    "feedback_count": "Replies joined to their feedback",
}


class TrailingWindows(Collector):
    """Every arm's counts in its trailing window, read when scraped."""

    def __init__(self, panes: PaneTable, clock: Callable[[], float]) -> None:
        self._panes = panes
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        rows = snapshot(self._panes, self._clock())
        size = GaugeMetricFamily(
            "splitstream_agent_window_seconds", "Size of the agent's trailing window."
        )
        size.add_metric([], float(self._panes.windows.size_s))
        yield size
        for measure in WindowCounts.measures():
            family = GaugeMetricFamily(
                f"splitstream_agent_window_{measure}",
                f"{WINDOW_MEASURES[measure]} in the trailing window, per experiment and variant.",
                labels=["experiment_id", "variant"],
            )
            for row in rows:
                value = getattr(row.counts, measure)
                family.add_metric([row.arm.experiment_id, row.arm.variant], float(value))
            yield family


class AgentMetrics:
    """The agent's registry; ``batch`` is called once per batch of source events.

    ``event_types`` are those the source topics carry (a child per type, made once).
    """

    def __init__(
        self, panes: PaneTable, event_types: Iterable[str], clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._clock = clock
        self.events = Counter(
            "splitstream_agent_events",
            "Source events read, by event type.",
            ["event_type"],
            registry=r,
        )
        self.skipped = Counter(
            "splitstream_agent_events_skipped",
            "Source events refused (not valid) and skipped, by event type.",
            ["event_type"],
            registry=r,
        )
        self.batches = Counter("splitstream_agent_batches", "Batches counted.", registry=r)
        self.triggers = Counter(
            "splitstream_agent_triggers", "experiment.trigger events sent.", registry=r
        )
        self.window_lag = Gauge(
            "splitstream_agent_window_lag_seconds",
            "Age of the last batch's newest event when the batch was counted: how far "
            "behind the windows run.",
            registry=r,
        )
        self.last_batch = Gauge(
            "splitstream_agent_last_batch_timestamp_seconds",
            "When the last batch was counted (Unix seconds).",
            registry=r,
        )
        self._events = {t: self.events.labels(t) for t in event_types}
        self._skipped = {t: self.skipped.labels(t) for t in event_types}
        r.register(TrailingWindows(panes, clock))

    def batch(
        self, *, read: dict[str, int], skipped: dict[str, int], newest_event_s: float | None
    ) -> None:
        """One batch: events read and skipped by type, and its newest event's time."""
        for event_type, count in read.items():
            self._events[event_type].inc(count)
        for event_type, count in skipped.items():
            self._skipped[event_type].inc(count)
        self.batches.inc()
        now_s = self._clock()
        self.last_batch.set(now_s)
        if newest_event_s is not None:
            self.window_lag.set(max(0.0, now_s - newest_event_s))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def batch_summary(
    events: Iterable[Any], event_type_of: dict[str, str], refused_positions: Iterable[int]
) -> tuple[dict[str, int], dict[str, int], float | None]:
    """Events read and skipped per event type, and the newest Kafka timestamp (seconds),
    of one batch of Faust events."""
    read: dict[str, int] = {}
    newest: float | None = None
    types: list[str] = []
    for event in events:
        message = event.message
        event_type = event_type_of[message.topic]
        types.append(event_type)
        read[event_type] = read.get(event_type, 0) + 1
        if message.timestamp is not None and (newest is None or message.timestamp > newest):
            newest = float(message.timestamp)
    skipped: dict[str, int] = {}
    for position in refused_positions:
        skipped[types[position]] = skipped.get(types[position], 0) + 1
    return read, skipped, newest
