"""The one place every consumer decides what happens to a message it cannot handle.

Rules, in order:
- a tombstone (no value) is skipped: there is nothing to answer or keep;
- a message read from the dead-letter topic itself is skipped, never dead-lettered
  again, so nothing can loop;
- on a topic the consumer only listens to (a predictor's model.events), a bad message
  is skipped: the topic's owner (the sink) dead-letters it, so it is recorded once;
- every other rejected message becomes a ``deadletter.record`` with its reason.

Either way one log line names ``topic[partition]@offset``, and the offset is committed
with its batch: a consumer never stops for a poison message. The dead letter's event
id is derived from the source coordinates, so a message dead-lettered twice (its batch
re-read after a crash) is one row under FINAL.
"""

import logging
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from plumbing.errors import EmptyMessageError, ErrorType, MessageRejectedError
from plumbing.event_ids import name_based_id
from plumbing.kafka import deadletter_record

#: uuid5 namespace of the event ids derived from Kafka coordinates.
KAFKA_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "splitstream:kafka")


class Record(Protocol):
    """What a consumed message carries (kafka-python's ConsumerRecord has these)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> list[tuple[str, bytes]] | None: ...


class Action(Enum):
    SKIP = "skip"
    DEAD_LETTER = "dead-letter"


@dataclass(frozen=True)
class Decision:
    """What to do with a rejected message, and why."""

    action: Action
    error_type: ErrorType
    reason: str
    #: Why a skipped message is skipped (a metrics label); "" when dead-lettered.
    skip_reason: str = ""


@dataclass(frozen=True)
class Disposal:
    """A decision made for one message, with its dead-letter record when there is one."""

    topic: str
    decision: Decision
    #: The ``deadletter.record`` event to produce; None when the message is skipped.
    dead_letter: dict[str, Any] | None


def derived_event_id(topic: str, partition: int, offset: int) -> str:
    """A stable event id for a message that has none: the same message, the same id."""
    return name_based_id(KAFKA_NAMESPACE, f"{topic}/{partition}/{offset}")


def decide(
    error: MessageRejectedError, *, topic: str, deadletter_topic: str, owns_topic: bool = True
) -> Decision:
    """Skip or dead-letter the message ``error`` rejected (see the module's rules)."""
    skip_reason = ""
    if isinstance(error, EmptyMessageError):
        skip_reason = "tombstone"
    elif topic == deadletter_topic:
        skip_reason = "malformed_dead_letter"
    elif not owns_topic:
        skip_reason = "not_owner"
    action = Action.SKIP if skip_reason else Action.DEAD_LETTER
    return Decision(action, error.error_type, str(error), skip_reason)


def where(record: Record) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"


def dispose(
    record: Record,
    error: MessageRejectedError,
    *,
    deadletter_topic: str,
    consumer_name: str,
    log: logging.Logger,
    owns_topic: bool = True,
) -> Disposal:
    """Decide, log the decision with where the message was, and build its dead letter."""
    decision = decide(
        error, topic=record.topic, deadletter_topic=deadletter_topic, owns_topic=owns_topic
    )
    log.warning(
        "%s %s: %s: %s", decision.action.value, where(record), decision.error_type, decision.reason
    )
    if decision.action is Action.SKIP:
        return Disposal(record.topic, decision, None)
    dead = deadletter_record(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        payload=record.value,
        headers=list(record.headers or []),
        consumer_name=consumer_name,
        reason=decision.reason,
        error_type=decision.error_type,
    )
    dead["event_id"] = derived_event_id(
        f"deadletter:{record.topic}", record.partition, record.offset
    )
    return Disposal(record.topic, decision, dead)
