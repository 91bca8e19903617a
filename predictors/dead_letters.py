"""The one place that decides: skip a rejected message, or send it to the dead-letter topic.

Rules:
- a tombstone (no value) is skipped: there is nothing to answer and nothing to keep;
- on a topic this worker only listens to (model.events), a bad message is skipped:
  the topic's owner (the sink) dead-letters it, so it is not recorded twice;
- every other rejected message is dead-lettered with its reason.

Either way the message's offset is committed with its batch and one log line names
``topic[partition]@offset``, so the worker never stops for a poison message.
"""

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from plumbing.kafka import deadletter_record
from predictors.errors import EmptyMessageError, ErrorType, MessageRejectedError

log = logging.getLogger(__name__)


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
    action: Action
    error_type: ErrorType
    reason: str


def decide(error: MessageRejectedError, *, owns_topic: bool = True) -> Decision:
    """Skip or dead-letter the message ``error`` rejected (see the module's rules)."""
    skip = isinstance(error, EmptyMessageError) or not owns_topic
    return Decision(Action.SKIP if skip else Action.DEAD_LETTER, error.error_type, str(error))


def where(record: Record) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"


def dispose(
    record: Record, error: MessageRejectedError, *, consumer_name: str, owns_topic: bool = True
) -> dict[str, Any] | None:
    """Decide, log the decision, and build the dead-letter record if there is one.

    Returns:
        The ``deadletter.record`` event to produce, or None when the message is skipped.
    """
    decision = decide(error, owns_topic=owns_topic)
    log.warning(
        "%s %s: %s: %s", decision.action.value, where(record), decision.error_type, decision.reason
    )
    if decision.action is Action.SKIP:
        return None
    return deadletter_record(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        payload=record.value,
        headers=list(record.headers or []),
        consumer_name=consumer_name,
        reason=decision.reason,
        error_type=decision.error_type,
    )
