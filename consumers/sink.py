"""The sink: every stored topic into ClickHouse through the batching engine.

The engine (``plumbing.consume_loop``) polls, batches, writes and commits; the sink's
``SinkWriter`` decodes each poll into columns and makes one insert per table per batch.
A batch is written once it holds ``batch_rows`` messages or its first message is
``batch_seconds`` old; offsets are committed only after the inserts returned and the
dead letters were acknowledged. Before partitions move to another sink the batch in
hand is written and committed.

A sink killed at any point therefore re-reads only uncommitted messages, and what it
re-reads that was stored already is skipped (``consumers.writer``), so each event is
stored once; should a copy slip through anyway, rows collapse by event_id
(ReplacingMergeTree, read with FINAL).
"""

import logging
import threading
import time
from collections.abc import Callable

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from consumers.engine import SerialClickHouse
from consumers.metrics import SinkMetrics
from consumers.writer import RowRef, SinkTopics, SinkWriter
from plumbing.consume_loop import BatchingConsumer
from plumbing.request_ids import RequestIds

__all__ = ["Sink", "SinkTopics"]

log = logging.getLogger(__name__)

#: Longest one poll waits; a batch due sooner shortens it.
POLL_TIMEOUT_MS = 500
LAG_EVERY_S = 1.0


class Sink:
    """Stores every message of ``topics`` through ``clickhouse``, in one consumer group."""

    def __init__(
        self,
        *,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        clickhouse: SerialClickHouse,
        database: str,
        topics: SinkTopics,
        metrics: SinkMetrics,
        batch_rows: int,
        batch_seconds: float,
        name: str,
        between_inserts: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        request_ids: RequestIds | None = None,
    ) -> None:
        self._consumer = consumer
        self._topics = topics
        self.metrics = metrics
        writer = SinkWriter(
            clickhouse=clickhouse,
            database=database,
            topics=topics,
            metrics=metrics,
            name=name,
            between_inserts=between_inserts,
            request_ids=request_ids,  # feedback must name a served request
        )
        self._engine: BatchingConsumer[RowRef] = BatchingConsumer(
            consumer=consumer,
            producer=producer,
            writer=writer,
            deadletter_topic=topics.deadletter,
            metrics=metrics,
            max_rows=batch_rows,
            max_seconds=batch_seconds,
            on_revoked=metrics.forget_lag,
            clock=clock,
        )
        self._clock = clock
        self._lag_at = 0.0

    def run(self, stop: threading.Event) -> None:
        """Store messages until ``stop`` is set; the batch in hand is written and committed."""
        self._engine.stopping = stop
        self.subscribe()
        while not stop.is_set():
            self.step()
        self.flush()

    def subscribe(self) -> None:
        """Join the group on every stored topic (partitions come with the first polls)."""
        self._engine.subscribe(list(self._topics.by_name))

    def step(self) -> None:
        """One poll, then a flush if the batch is due."""
        self._engine.poll(POLL_TIMEOUT_MS)
        self._update_lag()

    def flush(self) -> bool:
        """Write the batch and commit its offsets; False when the write failed (rewound)."""
        return self._engine.flush()

    def _update_lag(self) -> None:
        now = self._clock()
        if now - self._lag_at < LAG_EVERY_S:
            return
        self._lag_at = now
        lags: dict[TopicPartition, int] = {}
        for tp in self._consumer.assignment():
            end = self._consumer.highwater(tp)
            if end is None:
                continue
            done = self._engine.committed.get(tp)
            if done is None:
                try:  # nothing committed by this sink yet: where it reads from
                    done = self._consumer.position(tp, timeout_ms=0)
                except KafkaError:
                    done = None
            if done is not None:
                lags[tp] = max(0, end - done)
        self.metrics.set_lag(lags)
