"""Keep a worker's slots current: the reload broadcast, the periodic re-read, the acks.

``listen`` runs in a thread of its own, beside the serving loop: it waits on
model.events (a record answers its fetch at once) and applies what it reads, so a
reload is seen at once while the serving loop polls its requests with a long timeout.
A model switch never splits a batch: ``ModelSlot`` loads beside the old model and
switches in one assignment, and a batch reads ``slot.live`` once.

The model.events consumer has no group: it is assigned every partition and starts
at the end, so every worker sees every broadcast from the moment it starts.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from plumbing.dead_letters import dispose
from plumbing.errors import MessageRejectedError
from plumbing.model_store import SlotStore
from predictors.errors import PredictorError
from predictors.messages import reload_reason
from predictors.metrics import PredictorMetrics
from predictors.model_slot import ModelSlot, SlotChange
from predictors.replies import build_reloaded

log = logging.getLogger(__name__)

ACK_TIMEOUT_S = 10.0
#: Longest one wait on model.events; bounds how long a stop waits for the listener.
LISTEN_POLL_MS = 500


class SlotKeeper:
    """Applies the routing object to a worker's slots and acknowledges each reload."""

    def __init__(
        self,
        *,
        slots: list[ModelSlot],
        slot_store: SlotStore,
        events: KafkaConsumer,
        events_topic: str,
        producer: KafkaProducer,
        predictor_id: str,
        refresh_s: float,
        metrics: PredictorMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots = slots
        self._slot_store = slot_store
        self._events = events
        self._events_topic = events_topic
        self._producer = producer
        self._predictor_id = predictor_id
        self._refresh_s = refresh_s
        self._metrics = metrics
        self._clock = clock
        self._last_refresh = clock()

    def start(self) -> list[SlotChange]:
        """Listen from the end of model.events, then load what the routing object names.

        The listener is positioned first, so a reload broadcast while the models load
        is not missed.
        """
        partitions = self._events.partitions_for_topic(self._events_topic)
        if not partitions:
            raise PredictorError(f"topic {self._events_topic} does not exist")
        assigned = [TopicPartition(self._events_topic, p) for p in sorted(partitions)]
        self._events.assign(assigned)
        self._events.seek_to_end(*assigned)
        for tp in assigned:
            self._events.position(tp)  # resolve "end" now, not lazily at the first poll
        return self.refresh(reason="start", ack_always=True)

    def listen(self, stop: threading.Event) -> None:
        """Handle broadcasts and the periodic re-read until ``stop`` is set (a thread's body)."""
        while not stop.is_set():
            try:
                self.poll(timeout_ms=LISTEN_POLL_MS)
                self.maybe_refresh()
            except Exception:  # the listener must outlive a broker outage; the re-read retries
                log.exception("listening for model.events failed; trying again")
                stop.wait(1.0)

    def poll(self, timeout_ms: int) -> None:
        """Handle any model.reload broadcast waiting (or arriving within ``timeout_ms``)."""
        batches = self._events.poll(timeout_ms=timeout_ms)
        reasons: list[str] = []
        for records in batches.values():
            for record in records:
                try:
                    reason = reload_reason(record.value)
                except MessageRejectedError as error:  # the sink dead-letters it: log and skip
                    dispose(
                        record,
                        error,
                        deadletter_topic="",
                        consumer_name=self._predictor_id,
                        log=log,
                        owns_topic=False,
                    )
                    continue
                if reason is not None:
                    log.info("%s", reason)
                    reasons.append(reason)
        if reasons:
            # Several events in one poll need one re-read: the routing object is the truth.
            self.refresh(reason=reasons[-1], ack_always=True)

    def maybe_refresh(self) -> None:
        """The safety net: re-read the routing object every ``refresh_s``."""
        if self._clock() - self._last_refresh >= self._refresh_s:
            self.refresh(reason="periodic re-read", ack_always=False)

    def refresh(self, *, reason: str, ack_always: bool) -> list[SlotChange]:
        """Re-read the routing object and apply it to every slot.

        Acknowledges each slot when ``ack_always`` (a broadcast or the start), else
        only the slots whose model changed.
        """
        self._last_refresh = self._clock()
        try:
            read = self._slot_store.read()
        except Exception as error:  # S3 down: keep serving, say so, retry next time
            log.exception("%s: reading the slot routing object failed", reason)
            changes = [self._unreadable(slot, error) for slot in self.slots]
        else:
            slots = read.slots if read is not None else None
            changes = [slot.apply(slots) for slot in self.slots]
        for change in changes:
            self._metrics.serving(change.slot, change.version, change.generation)
            if not change.ok:
                self._metrics.error("reload")
        self._acknowledge([c for c in changes if ack_always or c.changed])
        return changes

    def _unreadable(self, slot: ModelSlot, error: Exception) -> SlotChange:
        live = slot.live
        return SlotChange(
            slot.slot,
            live.version if live else None,
            live.generation if live else 0,
            0.0,
            changed=False,
            error_code="slots_unreadable",
            error_message=f"{type(error).__name__}: {error}"[:2000],
        )

    def _acknowledge(self, changes: list[SlotChange]) -> None:
        if not changes:
            return
        try:
            futures: list[Any] = [
                self._producer.send(
                    self._events_topic,
                    value=build_reloaded(change, predictor_id=self._predictor_id),
                    key=self._predictor_id,
                )
                for change in changes
            ]
            self._producer.flush(timeout=ACK_TIMEOUT_S)
            for future in futures:
                future.get(timeout=ACK_TIMEOUT_S)
        except Exception:
            log.exception("publishing model.reloaded failed: no ack from %s", self._predictor_id)
            return
        for change in changes:
            log.info(
                "acknowledged: %s slot serves %s (generation %d, load %.1f ms, ok=%s)",
                change.slot,
                change.version,
                change.generation,
                change.load_ms,
                change.ok,
            )
