"""The serving loop of a predictor or the scorer, on the shared batching engine.

One thread serves, in this order, forever:

1. if the handler has no model, leave the consumer group and idle (saying so every
   ~30 s); otherwise join it;
2. one poll of the engine (``plumbing.consume_loop``): up to ``batch_max_rows``
   requests, written as soon as the poll returns (latency first: no batch waits for
   more); once every reply and dead letter is acknowledged the offsets are committed,
   at most every ``COMMIT_EVERY_S``. The next polls do not wait for those acks (up to
   ``MAX_UNACKED`` messages). A failed write commits nothing of its batch and rewinds,
   so the batch is read again.

A poll returns as soon as a request arrives, so its timeout only bounds how often an
idle worker wakes. Reload broadcasts are handled beside it, by ``SlotKeeper.listen``
in a thread of its own.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from plumbing.batch_writer import Writer
from plumbing.consume_loop import BatchingConsumer
from predictors.metrics import PredictorMetrics

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest one poll of the requests waits (a request ends it at once): idle wake-ups.
POLL_TIMEOUT_MS = 500
#: Offsets are committed at most this often (and when partitions move or the worker stops).
#: At low rates a batch is one request, and a commit per batch was a large share of the
#: worker's CPU. A worker killed re-delivers at most this much more; requests re-read after the
#: group's failover are mostly past their deadline by then and are skipped.
COMMIT_EVERY_S = 1.0
#: Replies and dead letters that may await their acks while the next requests are served.
#: Waiting for each batch's acks stalled every partition while one reply partition's
#: leader moved (a broker restarting); now only that partition's replies wait.
MAX_UNACKED = 1000
IDLE_WAIT_S = 0.5
#: Pause after a failed poll before the next one.
KAFKA_RETRY_S = 0.2
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
        metrics: PredictorMetrics,
        batch_max_rows: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._handler = handler
        self._engine: BatchingConsumer[T] = BatchingConsumer(
            consumer=consumer,
            producer=producer,
            writer=handler,
            deadletter_topic=deadletter_topic,
            metrics=metrics,
            max_rows=batch_max_rows,
            max_seconds=0.0,
            commit_every_s=COMMIT_EVERY_S,
            max_unacked=MAX_UNACKED,
            clock=clock,
        )
        self._clock = clock
        self._subscribed = False
        self._idle_logged_at: float | None = None
        self._stop = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set; the batch in hand is written and committed first."""
        self._stop = self._engine.stopping = stop
        while not stop.is_set():
            try:
                self.step()
            except KafkaError as error:
                # A broker lost from a cluster (its group coordinator, a leader) surfaces
                # here; the consumer finds the new ones at its next poll. Dying instead would
                # turn one broker's loss into a slot's outage.
                log.warning("%s: poll failed, polling again: %s", self._handler.name, error)
                stop.wait(KAFKA_RETRY_S)
        self._leave()

    def step(self) -> None:
        if not self._handler.ready():
            self._idle()
            self._stop.wait(IDLE_WAIT_S)  # the keeper's thread loads a model meanwhile
            return
        self._serve()
        self._engine.poll(POLL_TIMEOUT_MS)

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
