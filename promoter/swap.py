"""The swap: one conditional write of the routing object, then the reload broadcast.

Order matters. The routing object is the truth, so it is written first (If-Match on
the ETag read; a lost race raises SlotConflictError and nothing else happens). The
broadcast follows it, then the wait for every live predictor's acknowledgement. A
predictor that misses the broadcast re-reads the routing object on its own (the
safety net), so a timeout is recorded, not retried. The MLflow aliases, the event and
the ledger record come after all of this (promoter/execution.py). A promoter killed
before that record is written leaves S3 ahead of the ledger; the next active one
completes the swap and broadcasts the reload again (harmless when the first went
out: predictors re-read the routing object and acknowledge every broadcast).
"""

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from plumbing import kafka
from plumbing.failpoints import failpoint
from plumbing.model_store import Slots, SlotStore, SlotsVersion
from promoter.settings import PromoterSettings
from schemas.model_events import ModelReload

log = logging.getLogger(__name__)

#: The consumer groups whose members must acknowledge a reload.
SERVING_ROLES = ("prod", "candidate")


@dataclass(frozen=True)
class Broadcast:
    """Who acknowledged one reload broadcast, and who did not in time."""

    generation: int
    acked: tuple[str, ...]
    missing: tuple[str, ...]
    seconds: float


def serving_group(settings: PromoterSettings, role: str) -> str:
    """The predictors' consumer group of ``role`` (as predictors.main names it)."""
    return f"{settings.topic_prefix}splitstream-predictor-{role}"


#: How long ``live_predictors`` retries a broker that is still electing a group coordinator.
COORDINATOR_WAIT_S = 15.0


def live_predictors(settings: PromoterSettings) -> set[str]:
    """Client ids of the serving predictors' consumer-group members right now.

    A broker that has never seen these groups answers "coordinator not available" while
    it creates its offsets topic; that is retried for up to ``COORDINATOR_WAIT_S``.
    """
    admin = kafka.admin(settings, client_id="promoter")
    deadline = time.monotonic() + COORDINATOR_WAIT_S
    try:
        while True:
            try:
                groups = admin.describe_groups([serving_group(settings, r) for r in SERVING_ROLES])
                break
            except KafkaError as error:
                if not error.retriable or time.monotonic() > deadline:
                    raise
                log.info("waiting for the group coordinator: %s", error)
                time.sleep(0.5)
    finally:
        admin.close()
    return {m["client_id"] for g in _groups(groups) for m in g.get("members", [])}


def _groups(described: Any) -> list[dict[str, Any]]:
    return list(described.values()) if isinstance(described, dict) else list(described)


class SlotSwap:
    """Writes the routing object and brings every live predictor round to it."""

    def __init__(
        self, settings: PromoterSettings, slots: SlotStore, producer: KafkaProducer
    ) -> None:
        self._settings = settings
        self._slots = slots
        self._producer = producer
        self._events = TopicPartition(settings.topic("model_events").name, 0)

    def write(self, before: SlotsVersion, after: Slots) -> SlotsVersion:
        """The one conditional write; raises SlotConflictError when ``before`` is stale."""
        return self._slots.swap(before, after)

    def broadcast(self, after: SlotsVersion, reason: str) -> Broadcast:
        """Broadcast the reload and wait for the live predictors' acknowledgements."""
        started = time.monotonic()
        expected = live_predictors(self._settings)
        listener = kafka.consumer(self._settings, group_id=None, client_id="promoter-acks")
        try:
            listener.assign([self._events])
            listener.seek_to_end(self._events)
            listener.position(self._events)  # resolve now: acks after this point count
            self._send_reload(after, reason)
            failpoint(self._settings, "promoter.after_reload_broadcast")
            acked = self._await_acks(listener, after.slots.generation, expected)
        finally:
            listener.close()
        missing = tuple(sorted(expected - acked))
        if missing:
            log.warning("no reload ack from %s for generation %d", missing, after.slots.generation)
        return Broadcast(
            after.slots.generation, tuple(sorted(acked)), missing, time.monotonic() - started
        )

    def _send_reload(self, after: SlotsVersion, reason: str) -> None:
        assert after.slots.best is not None
        event = ModelReload.create(
            generation=after.slots.generation,
            best=after.slots.best,
            candidate=after.slots.candidate,
            reason=reason,
        )
        topic = self._settings.topic("model_events").name
        self._producer.send(topic, event.model_dump(mode="json")).get(timeout=10)

    def _await_acks(self, listener: KafkaConsumer, generation: int, expected: set[str]) -> set[str]:
        acked: set[str] = set()
        deadline = time.monotonic() + self._settings.promoter_ack_timeout_s
        while not expected <= acked and time.monotonic() < deadline:
            for message in listener.poll(timeout_ms=200).get(self._events, []):
                acked |= _ack_from(message.value, generation)
        return acked


def _ack_from(value: bytes | None, generation: int) -> set[str]:
    """The predictor id of a successful ``model.reloaded`` at ``generation`` or later."""
    try:
        event = json.loads(value or b"")
    except ValueError:
        return set()
    if not isinstance(event, dict) or event.get("event_type") != "model.reloaded":
        return set()
    if event.get("ok") is not True or not isinstance(event.get("generation"), int):
        return set()
    return {str(event["predictor_id"])} if event["generation"] >= generation else set()
