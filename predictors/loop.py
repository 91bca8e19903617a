"""The serving loop of a predictor or the scorer, on the shared batching engine.

One thread does everything, in this order, forever:

1. if the handler has no model, leave the consumer group and idle (saying so every
   ~30 s) while still listening for reloads; otherwise join it;
2. one poll of the engine (``plumbing.consume_loop``): up to ``batch_max_rows``
   requests, written as soon as the poll returns (latency first: no batch waits for
   more), committed once every reply and dead letter is acknowledged. A failed write
   commits nothing and rewinds, so the batch is read again;
3. handle model.reload broadcasts and the periodic re-read (``SlotKeeper``), between
   batches, so a model switch never happens mid-batch.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from kafka import KafkaConsumer, KafkaProducer

from plumbing.consume_loop import BatchingConsumer, Writer
from predictors.metrics import PredictorMetrics
from predictors.reloads import SlotKeeper

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest one poll of the requests waits; reload broadcasts are read between polls.
POLL_TIMEOUT_MS = 100
IDLE_POLL_MS = 500
IDLE_LOG_EVERY_S = 30.0


class Handler(Writer[T], Protocol[T]):
    """What a role plugs into the loop: when it can serve, how to decode, what to write."""

    def ready(self) -> bool:
        """True when a model is loaded, so consuming makes sense."""
        ...


class ServingLoop:
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
        self._handler = handler
        self._keeper = keeper
        self._engine: BatchingConsumer[T] = BatchingConsumer(
            consumer=consumer,
            producer=producer,
            writer=handler,
            deadletter_topic=deadletter_topic,
            metrics=metrics,
            max_rows=batch_max_rows,
            max_seconds=0.0,
            clock=clock,
        )
        self._clock = clock
        self._subscribed = False
        self._idle_logged_at: float | None = None

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set; the batch in hand is written and committed first."""
        self._engine.stopping = stop
        while not stop.is_set():
            self.step()
        self._leave()

    def step(self) -> None:
        if not self._handler.ready():
            self._idle()
            self._keeper.poll(timeout_ms=IDLE_POLL_MS)
            self._keeper.maybe_refresh()
            return
        self._serve()
        self._engine.poll(POLL_TIMEOUT_MS)
        self._keeper.poll(timeout_ms=0)
        self._keeper.maybe_refresh()

    # ----------------------------------------------------------------------- group membership

    def _serve(self) -> None:
        if not self._subscribed:
            log.info("%s: model loaded; consuming %s", self._handler.name, self._topic)
            self._engine.subscribe([self._topic])
            self._subscribed = True
            self._idle_logged_at = None

    def _leave(self) -> None:
        if self._subscribed:
            self._engine.flush()
            self._consumer.unsubscribe()
            self._subscribed = False

    def _idle(self) -> None:
        # Leave the group, so the slot's requests wait in Kafka for a worker that can answer.
        self._leave()
        now = self._clock()
        if self._idle_logged_at is None or now - self._idle_logged_at >= IDLE_LOG_EVERY_S:
            log.info(
                "%s: idle: no model in this slot; not consuming %s (waiting for a reload)",
                self._handler.name,
                self._topic,
            )
            self._idle_logged_at = now
