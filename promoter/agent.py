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

Restarts. What bounds a restart is the changelog records Faust replays into the tables
before the agent counts anything (``python -m bench.restart`` measures it). With the memory
store a restart replays the whole changelog: the pane table's is O(arms x panes), but the
join table's holds a record per reply half and per join within the TTL, so the replay
grows with rate x TTL and with whatever compaction has not reached yet. So the store is
RocksDB (``promoter_agent_store=rocksdb://``, rocksdict pinned): the tables persist in
``<state_dir>/stream-agent`` with the changelog offset they hold (written as each record is
acknowledged), and a restart reads only the changelog written since, so its catch-up does
not grow with the history. RocksDB's
write-ahead log keeps that state across a SIGKILL; a replayed changelog record only sets a
key to the value it already has. The changelogs stay small anyway (the pane table's
compacted, the join table's compacted and time-limited to the TTL), so a new machine
without the RocksDB files rebuilds from O(live keys). ``memory://`` still works.

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
from plumbing.kafka_security import client_security
from promoter.agent_metrics import AgentMetrics, batch_summary
from promoter.agent_transport import LongPollApp
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


#: RocksDB sized for a few small tables, not Faust's defaults (64 MiB write buffers, a
#: 2 GiB block cache per table).
ROCKSDB_OPTIONS = {
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024 * 1024,
    "block_cache_size": 32 * 1024 * 1024,
}


def store_options(settings: AgentSettings) -> dict[str, Any]:
    """The tables' store options: RocksDB's sizes, or none for another store."""
    return dict(ROCKSDB_OPTIONS) if settings.promoter_agent_store.startswith("rocksdb") else {}


def app_id(settings: AgentSettings) -> str:
    """The Faust app id (its consumer group and topic-name stem), prefixed like topics."""
    return settings.topic_prefix + settings.promoter_agent_app_id


def new_app(settings: AgentSettings) -> faust.App:
    """A Faust app on the configured broker, tuned for fast fail-over and quick starts."""
    ident = app_id(settings)
    session_s = settings.kafka_session_timeout_ms / 1000
    return LongPollApp(
        ident,
        fetch_min_bytes=settings.promoter_agent_fetch_min_bytes,
        fetch_max_wait_ms=settings.promoter_agent_fetch_max_wait_ms,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        store=settings.promoter_agent_store,
        datadir=settings.state_dir / "stream-agent" / ident,
        topic_partitions=settings.promoter_agent_partitions,
        topic_replication_factor=settings.agent_replication_factor,
        topic_disable_leader=True,  # its __assignor-__leader topic serves nothing here
        broker_session_timeout=session_s,
        broker_heartbeat_interval=max(session_s / 3, 0.5),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        consumer_metadata_max_age_ms=settings.metadata_max_age_ms,
        producer_metadata_max_age_ms=settings.metadata_max_age_ms,
        # A batch sends a few messages and changelog records; let them share a request.
        producer_linger=0.01,
        # Stop without finishing the batch in hand: it is re-delivered (at least once), and
        # a count off by a batch is fine for a trigger.
        stream_wait_empty=False,
        web_bind=settings.stack_host,
        web_host=settings.stack_host,
        web_port=settings.promoter_agent_web_port,
        **client_security(settings.with_default_kafka_role("agent"), "faust"),
    )


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


def _skip(event: EventT, what: str, reason: str) -> None:
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
    events: Sequence[EventT], readers: Mapping[str, tuple[Reader, str]], metrics: AgentMetrics
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
    async def read_sources(stream: StreamT) -> None:
        async for events in stream.take_events(batch_max, within=batch_wait_s):
            batch = tally_sources(_read_all(events, readers, metrics), windows)
            await send_deltas(batch.deltas)
            grouped = _by_partition(batch.halves, settings.promoter_agent_partitions)
            for partition, some in grouped.items():
                await halves.send(value=encode_halves(some), partition=partition)

    @app.agent(halves, name="join-feedback")
    async def join_feedback(stream: StreamT) -> None:
        event: EventT
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
    async def count_panes(stream: StreamT) -> None:
        event: EventT
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

    @app.timer(interval=settings.promoter_agent_counts_log_s, name="log-counts")
    async def log_counts() -> None:
        for row in snapshot(panes, time.time()):
            log.info("window counts: %s", row.as_json())

    @app.timer(interval=max(ttl_s / 4, 60.0), name="sweep-halves")
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
