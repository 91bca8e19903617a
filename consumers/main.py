"""Entry point of the sink process: build the parts from settings and run the loop.

The sink joins consumer group ``<prefix>splitstream-sink`` (``SPLITSTREAM_SINK_GROUP``,
namespaced by the topic prefix like the topics) on every topic of schemas/topics.json
that has a table, writes them to ClickHouse (chDB in the state folder, owned by this
process, or the server at ``SPLITSTREAM_CLICKHOUSE_URL``), and answers read-only SQL,
/metrics and /healthz on ``SPLITSTREAM_SINK_HOST:SPLITSTREAM_SINK_PORT``.
"""

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from consumers.engine import open_sink_clickhouse
from consumers.metrics import SinkMetrics
from consumers.query_server import QueryServer, create_app
from consumers.settings import SinkSettings
from consumers.sink import Sink
from consumers.writer import SinkTopics
from plumbing import kafka, request_ids
from plumbing.clickhouse import create_tables
from plumbing.cpu_priority import yield_to_request_path
from plumbing.failpoints import failpoint
from plumbing.shutdown import stopping_on_signals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """Told to ``on_ready`` once the tables exist, HTTP answers and the loop starts."""

    name: str
    port: int
    group_id: str
    topics: tuple[str, ...]
    clickhouse: str


def sink_name() -> str:
    """``sink-<hostname>-<pid>``: the consumer name in dead-letter records and logs."""
    return f"sink-{socket.gethostname()}-{os.getpid()}"


def group_id(settings: SinkSettings) -> str:
    return settings.topic_prefix + settings.sink_group


def sink_topics(settings: SinkSettings) -> SinkTopics:
    """Every topic with a table, by its configured name."""
    specs = [spec for spec in settings.topics() if spec.table]
    return SinkTopics({spec.name: spec for spec in specs}, settings.topic("deadletter").name)


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)


def run(
    settings: SinkSettings,
    *,
    on_ready: Callable[[Started], None] = lambda started: None,
    stop: threading.Event | None = None,
) -> None:
    """Run the sink process until ``stop`` is set or SIGTERM/SIGINT arrives (the batch in
    hand is kept): its logging, its CPU priority, its HTTP port (/query, /metrics)."""
    configure_logging()
    yield_to_request_path(settings.background_niceness)
    stop = stop or threading.Event()
    settings = settings.with_default_kafka_role("sink")  # its Kafka principal
    name, group, topics = sink_name(), group_id(settings), sink_topics(settings)
    metrics = SinkMetrics()
    tables_ready = threading.Event()
    with stopping_on_signals(stop), contextlib.ExitStack() as close:
        clickhouse = open_sink_clickhouse(settings)
        close.callback(clickhouse.close)
        app = create_app(
            reader=clickhouse.reader,
            metrics=metrics,
            ready=tables_ready,
            query_token=settings.query_token,
        )
        server = QueryServer(app, host=settings.sink_host, port=settings.sink_port)
        port = server.start()
        close.callback(server.stop)
        create_tables(clickhouse.writer, settings.clickhouse_database)
        tables_ready.set()
        producer = kafka.producer(settings, client_id=name)
        close.callback(producer.close)
        consumer = kafka.consumer(
            settings,
            group_id=group,
            client_id=name,
            max_poll_records=settings.sink_batch_rows,
            # A background reader: fetches collect data instead of waking per record.
            fetch_min_bytes=settings.sink_fetch_min_bytes,
            fetch_max_wait_ms=settings.sink_fetch_max_wait_ms,
        )
        close.callback(consumer.close)
        sink = Sink(
            consumer=consumer,
            producer=producer,
            clickhouse=clickhouse.writer,
            database=settings.clickhouse_database,
            topics=topics,
            metrics=metrics,
            batch_rows=settings.sink_batch_rows,
            batch_seconds=settings.sink_batch_seconds,
            name=name,
            request_ids=request_ids.for_settings(settings),
            between_inserts=lambda: failpoint(settings, "sink.between_inserts"),
        )
        engine = "ClickHouse server" if settings.clickhouse_url else f"chDB {settings.chdb_path}"
        on_ready(Started(name, port, group, tuple(topics.by_name), engine))
        sink.run(stop)
        log.info("%s stopped", name)
