"""The consume → batch → insert → commit loop of the sink.

One thread does everything, in this order, forever:

1. poll the subscribed topics and ``add()`` each message to the batch: a row of its
   table, or what ``dead_letters.dispose`` decided for a message that is not one;
2. when the batch is full or old enough, ``flush()``: one ``write`` produces the dead
   letters, inserts each topic-partition's rows with its deduplication token and waits
   for the dead letters' acknowledgements; only then are the offsets committed. A
   failed write commits nothing and rewinds the partitions, so the batch is read again;
3. before partitions move to another sink (a rebalance), the batch in hand is written
   and committed, so their new owner starts after it.

A sink killed at any point therefore re-reads only uncommitted messages: a batch it
re-reads whole has the same token and is stored once; rows it re-reads in a different
batch collapse by event_id (ReplacingMergeTree, read with FINAL).
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from consumers.batches import Batch, BatchBuffer, Entry, Row
from consumers.dead_letters import dispose
from consumers.decoding import decode_event
from consumers.engine import SerialClickHouse
from consumers.errors import MessageRejectedError, UnexpectedMessageError
from consumers.feedback_check import check_feedback
from consumers.metrics import SinkMetrics
from consumers.rows import Coordinates, event_row, frame
from plumbing.request_ids import RequestIds
from schemas.registry import TopicSpec

log = logging.getLogger(__name__)

WRITE_TIMEOUT_S = 30.0
POLL_TIMEOUT_MS = 500
RETRY_PAUSE_S = 1.0
LAG_EVERY_S = 1.0


@dataclass(frozen=True)
class SinkTopics:
    """The topics the sink stores (by configured name) and where dead letters go."""

    by_name: dict[str, TopicSpec]
    deadletter: str


class _FlushBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sink: "Sink") -> None:
        self._sink = sink

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._sink.flush()
        self._sink.metrics.forget_lag()

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("sink assigned %d partition(s)", len(assigned))


class Sink:
    """Stores every message of ``topics`` through ``clickhouse``, in one consumer group."""

    def __init__(
        self,
        *,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        clickhouse: SerialClickHouse,
        topics: SinkTopics,
        metrics: SinkMetrics,
        batch_rows: int,
        batch_seconds: float,
        name: str,
        clock: Callable[[], float] = time.monotonic,
        request_ids: RequestIds | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._clickhouse = clickhouse
        self._topics = topics
        self.metrics = metrics
        self._buffer = BatchBuffer(max_rows=batch_rows, max_seconds=batch_seconds, clock=clock)
        self._name = name
        self._clock = clock
        self._request_ids = request_ids  # feedback must name a served request
        self._committed: dict[TopicPartition, int] = {}
        self._lag_at = 0.0
        self._stop = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Store messages until ``stop`` is set; the batch in hand is written and committed."""
        self._stop = stop
        self._consumer.subscribe(list(self._topics.by_name), listener=_FlushBeforeRevoke(self))
        while not stop.is_set():
            self.step()
        self.flush()

    def step(self) -> None:
        """One poll, then a flush if the batch is due."""
        left = self._buffer.seconds_left()
        timeout_ms = POLL_TIMEOUT_MS if left is None else min(POLL_TIMEOUT_MS, int(left * 1000))
        room = max(1, self._buffer.max_rows - len(self._buffer))
        polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=room)
        for records in polled.values():
            for record in records:
                self._buffer.add(record.topic, record.partition, record.offset, self._admit(record))
        if self._buffer.due():
            self.flush()
        self._update_lag()

    def flush(self) -> bool:
        """Write the batch and commit its offsets; False when the write failed (rewound)."""
        try:
            offsets = self._buffer.flush(self._write)
        except Exception:
            log.exception("writing a batch failed; it will be read again")
            self.metrics.write_failures.inc()
            self._stop.wait(RETRY_PAUSE_S)
            return False
        if offsets:
            self._commit(offsets)
        return True

    # ----------------------------------------------------------------------- one message

    def _admit(self, record: ConsumerRecord) -> Entry:
        spec = self._topics.by_name[record.topic]
        try:
            event_type, event = decode_event(record.value, events=spec.events, topic=record.topic)
            check_feedback(event_type, event, self._request_ids)
            where = Coordinates(record.topic, record.partition, record.offset, record.timestamp)
            row = event_row(
                event,
                event_type=event_type,
                table=spec.table,
                layout=spec.table_layout,
                where=where,
            )
            return Row(spec.table, row)
        except Exception as failure:  # nothing a message holds may stop the sink
            error = (
                failure
                if isinstance(failure, MessageRejectedError)
                else UnexpectedMessageError(f"{type(failure).__name__}: {failure}")
            )
            return dispose(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                value=record.value,
                headers=list(record.headers or []),
                error=error,
                deadletter_topic=self._topics.deadletter,
                consumer_name=self._name,
                log=log,
            )

    # ----------------------------------------------------------------------- one batch

    def _write(self, batch: Batch) -> None:
        try:
            futures = [
                self._producer.send(self._topics.deadletter, value=record)
                for record in batch.dead_letters
            ]
            for insert in batch.inserts:
                started = time.perf_counter()
                self._clickhouse.insert_df(
                    insert.table, frame(insert.table, insert.rows), dedup_token=insert.dedup_token
                )
                self.metrics.inserted(
                    insert.table, rows=len(insert.rows), seconds=time.perf_counter() - started
                )
            if futures:
                self._producer.flush(timeout=WRITE_TIMEOUT_S)
                for future in futures:
                    # flush() does not raise; a failed send does, here.
                    future.get(timeout=WRITE_TIMEOUT_S)
        except Exception:
            self._rewind(batch.first_offsets)
            raise
        for record in batch.dead_letters:
            self.metrics.dead_lettered(record["source_topic"], record["error_type"])
        for reason in batch.skipped:
            self.metrics.skipped.labels(reason).inc()

    def _rewind(self, first_offsets: dict[TopicPartition, int]) -> None:
        for partition, offset in first_offsets.items():
            try:
                self._consumer.seek(partition, offset)
            except (KafkaError, ValueError, AssertionError) as error:
                # Revoked meanwhile: its new owner reads from the committed offset.
                log.warning("could not rewind %s to %d: %s", partition, offset, error)

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            self._consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except (KafkaError, RuntimeError) as error:
            # The group rebalanced: the new owner re-reads; the rows collapse (at least once).
            # RuntimeError: kafka-python 3 ran the revoke callback on its IO thread (the broker
            # went away), where a blocking commit is refused; re-reading is safe there too.
            log.warning("commit failed: %s", error)
            return
        self._committed.update(offsets)

    # ----------------------------------------------------------------------- lag

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
            done = self._committed.get(tp)
            if done is None:
                try:  # nothing committed by this sink yet: where it reads from
                    done = self._consumer.position(tp, timeout_ms=0)
                except KafkaError:
                    done = None
            if done is not None:
                lags[tp] = max(0, end - done)
        self.metrics.set_lag(lags)
