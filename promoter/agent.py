"""The Faust stream agent: hopping-window counts per experiment arm, and ``experiment.trigger``.

Flow (``<app>-…`` are the agent's own topics; ``<app>`` is the prefixed app id)::

    predict.requests.{prod,candidate}, predict.replies, feedback
        -> read-sources: batches of events, added up (promoter.tally)
            -> <app>-pane-deltas (key: arm; one message per arm per batch)
                 -> count-panes -> pane-counts table -> experiment.trigger on model.events
            -> <app>-join-halves (by request id; one message per partition per batch)
                 -> join-feedback -> join-halves table -> <app>-pane-deltas

Every stage pays per batch: ``read-sources`` takes up to ``promoter_agent_batch_max_events``
events or what ``promoter_agent_batch_wait_s`` brings, decodes only the fields it needs
(``promoter.observations``, orjson), and sends one delta per arm and pane and one message of
halves per partition. The counter writes one table row per arm and pane and checks the
trigger once per batch; the join writes each request id's final state once per batch.
Re-keying into the two internal topics keeps every table co-partitioned with the one topic
that updates it, as Faust requires, whatever the source topics' partition counts.

Restarts replay little: the tables live in RocksDB (``promoter/agent_app.py``).

Poison messages on the source topics are logged and skipped, never dead-lettered: the
sink dead-letters those topics already. Counts are a trigger only; the promoter
re-reads ClickHouse.
"""

import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn

import faust
import orjson
from faust.types import EventT, StreamT, TopicT
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST

from plumbing.cpu_priority import yield_to_request_path
from promoter.agent_app import new_app, store_options
from promoter.agent_metrics import AgentMetrics, batch_summary
from promoter.join_table import JoinTable, join_halves_table
from promoter.observations import (
    Reader,
    Seen,
    read_batch,
    read_feedback,
    read_reply,
    read_request,
)
from promoter.settings import AgentSettings
from promoter.tally import Half, PaneDeltas, join_batch, tally_sources
from promoter.window_tables import PaneTable, count_batch, pane_counts_table, snapshot
from promoter.windows import Arm, HoppingWindows, TriggerRule
from promoter.wire import (
    arm_key,
    decode_halves,
    decode_pane_deltas,
    encode_halves,
    encode_pane_deltas,
)

log = logging.getLogger(__name__)

#: The pane table's changelog: compacted to one record per key soon after it changes.
PANE_CHANGELOG = {
    "cleanup.policy": "compact",
    "segment.ms": "600000",
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": "60000",
}


# --------------------------------------------------------------------------- the app


@dataclass(frozen=True)
class StreamAgent:
    """The wired app, and what tests and benchmarks read."""

    app: faust.App
    panes: PaneTable
    joins: JoinTable
    rule: TriggerRule


def _raw_topic(app: faust.App, *names: str, internal: bool = False) -> TopicT:
    """A topic read as bytes: decoding is ours, so poison cannot crash a stream."""
    return app.topic(
        *names,
        key_serializer="raw",
        value_serializer="raw",
        value_type=bytes,
        allow_empty=True,
        internal=internal,
    )


def _skip(event: EventT[bytes], what: str, reason: str) -> None:
    """The one place that decides about bad input: skip, with ``topic[partition]@offset``."""
    msg = event.message
    log.warning(
        "skip %s[%s]@%s: not a valid %s: %s",
        msg.topic,
        msg.partition,
        msg.offset,
        what,
        reason[:500],
    )


def _source_readers(settings: AgentSettings) -> dict[str, tuple[Reader, str]]:
    """Source topic -> its reader and the event type it expects."""
    return {
        settings.topic("predict_requests_prod").name: (read_request, "predict.request"),
        settings.topic("predict_requests_candidate").name: (read_request, "predict.request"),
        settings.topic("predict_replies").name: (read_reply, "predict.reply"),
        settings.topic("feedback").name: (read_feedback, "feedback"),
    }


def _read_all(
    events: Sequence[EventT[bytes]],
    readers: Mapping[str, tuple[Reader, str]],
    metrics: AgentMetrics,
) -> list[Seen]:
    """What each event says; the ones its topic's reader refuses are logged and skipped."""
    by_topic = {topic: read for topic, (read, _) in readers.items()}
    seen, refused = read_batch(((e.message.topic, e.value) for e in events), by_topic)
    for position, reason in refused:
        event = events[position]
        _skip(event, readers[event.message.topic][1], reason)
    event_types = {topic: event_type for topic, (_, event_type) in readers.items()}
    read, skipped, newest_s = batch_summary(events, event_types, (p for p, _ in refused))
    metrics.batch(read=read, skipped=skipped, newest_event_s=newest_s)
    return seen


def _by_partition(halves: list[tuple[str, Half]], partitions: int) -> dict[int, list[Any]]:
    """Halves grouped by the partition of their request id (stable across restarts)."""
    grouped: dict[int, list[Any]] = {}
    for request_id, half in halves:
        partition = zlib.crc32(request_id.encode()) % partitions
        grouped.setdefault(partition, []).append((request_id, half))
    return grouped


def build_app(settings: AgentSettings) -> StreamAgent:
    """The Faust app with its topics, tables, agents, timers and web view."""
    app = new_app(settings)
    windows = HoppingWindows(settings.promoter_trigger_window_s, settings.promoter_window_step_s)
    rule = TriggerRule(settings.promoter_trigger_requests, windows)
    options = store_options(settings)
    panes = PaneTable(
        pane_counts_table(app, topic_configs=PANE_CHANGELOG, store_options=options), windows
    )
    ttl_s = settings.promoter_agent_join_ttl_s
    halves_table = join_halves_table(app, ttl_s, options)
    joins = JoinTable(halves_table, halves_table.data, ttl_s)

    readers = _source_readers(settings)
    metrics = AgentMetrics(panes, {event_type for _, event_type in readers.values()})
    sources = _raw_topic(app, *readers)
    deltas = _raw_topic(app, f"{app.conf.id}-pane-deltas", internal=True)
    halves = _raw_topic(app, f"{app.conf.id}-join-halves", internal=True)
    model_events = app.topic(
        settings.topic("model_events").name, key_serializer="raw", value_serializer="raw"
    )
    batch_max, batch_wait_s = (
        settings.promoter_agent_batch_max_events,
        settings.promoter_agent_batch_wait_s,
    )

    async def send_deltas(by_arm: dict[Arm, PaneDeltas]) -> None:
        for arm, arm_panes in by_arm.items():
            await deltas.send(key=arm_key(arm), value=encode_pane_deltas(arm, arm_panes))

    @app.agent(sources, name="read-sources")
    async def read_sources(stream: StreamT[bytes]) -> None:
        # An agent gets a faust.Stream; its StreamT type does not declare take_events.
        batches = stream.take_events(batch_max, within=batch_wait_s)  # type: ignore[attr-defined]
        async for events in batches:
            batch = tally_sources(_read_all(events, readers, metrics), windows)
            await send_deltas(batch.deltas)
            grouped = _by_partition(batch.halves, settings.promoter_agent_partitions)
            for partition, some in grouped.items():
                await halves.send(value=encode_halves(some), partition=partition)

    @app.agent(halves, name="join-feedback")
    async def join_feedback(stream: StreamT[bytes]) -> None:
        event: EventT[bytes]
        async for event in stream.events():
            try:
                arrived = decode_halves(event.value)
            except ValueError as exc:
                _skip(event, "join-halves message", str(exc))
                continue
            now_s = time.time()
            joined = join_batch(arrived, partial(joins.lookup, now_s=now_s), windows)
            joins.write(joined.writes, now_s)
            await send_deltas(joined.deltas)

    @app.agent(deltas, name="count-panes")
    async def count_panes(stream: StreamT[bytes]) -> None:
        event: EventT[bytes]
        async for event in stream.events():
            try:
                arm, arm_panes = decode_pane_deltas(event.value)
            except ValueError as exc:
                _skip(event, "pane-deltas message", str(exc))
                continue
            trigger = count_batch(panes, rule, arm, arm_panes)
            if trigger is not None:
                body = trigger.model_dump(mode="json")
                key = trigger.experiment_id.encode()
                await model_events.send(key=key, value=orjson.dumps(body))
                metrics.triggers.inc()
                log.info("trigger %s: %s", rule.describe(), body)

    # The timers' ignores: faust annotates App.timer as returning a bare Callable.
    @app.timer(interval=settings.promoter_agent_counts_log_s, name="log-counts")  # type: ignore[untyped-decorator]
    async def log_counts() -> None:
        for row in snapshot(panes, time.time()):
            log.info("window counts: %s", row.as_json())

    @app.timer(interval=max(ttl_s / 4, 60.0), name="sweep-halves")  # type: ignore[untyped-decorator]
    async def sweep_halves() -> None:
        dropped = joins.sweep(time.time())
        if dropped:
            log.info("dropped %d unjoined halves older than %s s", dropped, ttl_s)

    @app.page("/counts/")
    async def counts_page(web: View, request: Request) -> Response:
        """Every arm's counts in its trailing window at ``?at=<unix s>`` (default: now)."""
        try:
            at_s = float(request.query.get("at", time.time()))
        except ValueError:
            return web.json({"error": "at must be Unix seconds"}, status=400)
        body = {
            "at_s": at_s,
            "window_s": windows.size_s,
            "step_s": windows.step_s,
            "rule": rule.describe(),
            "arms": [row.as_json() for row in snapshot(panes, at_s)],
        }
        return web.json(body)

    @app.page("/metrics")
    async def metrics_page(web: View, request: Request) -> Response:
        """Prometheus metrics of the agent (promoter/agent_metrics.py)."""
        return web.bytes(metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return StreamAgent(app, panes, joins, rule)


def run_agent(settings: AgentSettings) -> NoReturn:
    """Run the stream agent in this process until SIGTERM or SIGINT."""
    yield_to_request_path(settings.background_niceness)
    agent = build_app(settings)
    agent.app.conf.datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes one level
    worker = faust.Worker(agent.app, loglevel="INFO", quiet=True)
    worker.execute_from_commandline()
