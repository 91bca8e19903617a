"""The consume → micro-batch → write → commit loop shared by predictors and the scorer.

One thread does everything, in this order, forever:

1. if the handler has no model, leave the consumer group and idle (saying so every
   ~30 s) while still listening for reloads; otherwise join it;
2. poll up to ``batch_max_rows`` messages and ``add()`` each to the buffer: a request
   the handler can decode, or the dead-letter record (or skip) ``dead_letters`` decided;
3. ``flush()``: one ``write`` produces every reply and dead letter of the batch and
   waits for their acknowledgements, then the offsets are committed. A failed write
   commits nothing and rewinds the partitions, so the batch is read again;
4. handle model.reload broadcasts and the periodic re-read (``SlotKeeper``), between
   batches, so a model switch never happens mid-batch.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from predictors.batching import Batch, MicroBatch
from predictors.dead_letters import dispose
from predictors.errors import MessageRejectedError
from predictors.metrics import PredictorMetrics
from predictors.reloads import SlotKeeper

log = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_TIMEOUT_S = 30.0
POLL_TIMEOUT_MS = 100
IDLE_POLL_MS = 500
IDLE_LOG_EVERY_S = 30.0
RETRY_PAUSE_S = 1.0


@dataclass(frozen=True)
class Accepted(Generic[T]):
    """A message the handler decoded, with the record it came from."""

    record: ConsumerRecord
    item: T


@dataclass(frozen=True)
class DeadLettered:
    """A rejected message's dead-letter record, produced with the batch."""

    record: dict[str, Any]


@dataclass(frozen=True)
class Skipped:
    """A message with nothing to produce; only its offset is committed."""


Entry = Accepted[Any] | DeadLettered | Skipped


class Handler(Protocol[T]):
    """What a role plugs into the loop: when it can serve, how to decode, what to write."""

    name: str

    def ready(self) -> bool:
        """True when a model is loaded, so consuming makes sense."""
        ...

    def decode(self, record: ConsumerRecord) -> T:
        """The request in ``record``; raises MessageRejectedError when there is none."""
        ...

    def write(self, accepted: list[Accepted[T]]) -> list[Any]:
        """Predict the batch and send one output per item; return the send futures."""
        ...


class ServingLoop(Generic[T]):
    """Runs one handler against one topic in one consumer group."""

    def __init__(
        self,
        *,
        consumer: KafkaConsumer,
        topic: str,
        producer: KafkaProducer,
        deadletter_topic: str,
        handler: Handler[T],
        keeper: SlotKeeper,
        metrics: PredictorMetrics,
        batch_max_rows: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._producer = producer
        self._deadletter_topic = deadletter_topic
        self._handler = handler
        self._keeper = keeper
        self._metrics = metrics
        self._buffer: MicroBatch[Entry] = MicroBatch(batch_max_rows)
        self._clock = clock
        self._subscribed = False
        self._idle_logged_at: float | None = None
        self._stop = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set; the batch in hand is written and committed first."""
        self._stop = stop
        while not stop.is_set():
            self.step()
        if self._subscribed:
            self._consumer.unsubscribe()

    def step(self) -> None:
        if not self._handler.ready():
            self._idle()
            self._keeper.poll(timeout_ms=IDLE_POLL_MS)
            self._keeper.maybe_refresh()
            return
        self._serve()
        polled = self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=self._buffer.max_rows)
        for partition, records in polled.items():
            for record in records:
                self._buffer.add(partition, record.offset, self._admit(record))
                if self._buffer.full and not self._flush():
                    return  # rewound: the rest of this poll is read again
        self._flush()
        self._keeper.poll(timeout_ms=0)
        self._keeper.maybe_refresh()

    # ----------------------------------------------------------------------- group membership

    def _serve(self) -> None:
        if not self._subscribed:
            log.info("%s: model loaded; consuming %s", self._handler.name, self._topic)
            self._consumer.subscribe([self._topic])
            self._subscribed = True
            self._idle_logged_at = None

    def _idle(self) -> None:
        if self._subscribed:
            # Leave the group, so the slot's requests wait in Kafka for a worker that can answer.
            self._consumer.unsubscribe()
            self._subscribed = False
        now = self._clock()
        if self._idle_logged_at is None or now - self._idle_logged_at >= IDLE_LOG_EVERY_S:
            log.info(
                "%s: idle: no model in this slot; not consuming %s (waiting for a reload)",
                self._handler.name,
                self._topic,
            )
            self._idle_logged_at = now

    # ----------------------------------------------------------------------- the batch

    def _admit(self, record: ConsumerRecord) -> Entry:
        try:
            return Accepted(record, self._handler.decode(record))
        except MessageRejectedError as error:
            self._metrics.error(error.error_type)
            dead = dispose(record, error, consumer_name=self._handler.name)
            return DeadLettered(dead) if dead is not None else Skipped()

    def _flush(self) -> bool:
        try:
            offsets = self._buffer.flush(self._write)
        except Exception:
            log.exception("%s: writing a batch failed; it will be read again", self._handler.name)
            self._metrics.error("write")
            self._stop.wait(RETRY_PAUSE_S)
            return False
        if offsets:
            self._commit(offsets)
        return True

    def _write(self, batch: Batch[Entry]) -> None:
        try:
            accepted = [e for e in batch.items if isinstance(e, Accepted)]
            futures = self._handler.write(accepted) if accepted else []
            futures += [
                self._producer.send(self._deadletter_topic, value=e.record)
                for e in batch.items
                if isinstance(e, DeadLettered)
            ]
            self._producer.flush(timeout=WRITE_TIMEOUT_S)
            for future in futures:
                future.get(timeout=WRITE_TIMEOUT_S)  # flush() does not raise; a failed send does
        except Exception:
            self._rewind(batch.first_offsets)
            raise
        self._metrics.batch()

    def _rewind(self, first_offsets: dict[TopicPartition, int]) -> None:
        for partition, offset in first_offsets.items():
            try:
                self._consumer.seek(partition, offset)
            except (KafkaError, ValueError) as error:  # revoked meanwhile: its new owner reads it
                log.warning("could not rewind %s to %d: %s", partition, offset, error)

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            self._consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except KafkaError as error:
            # The group rebalanced: the new owner re-reads and answers again (at least once).
            log.warning("%s: commit failed: %s", self._handler.name, error)
