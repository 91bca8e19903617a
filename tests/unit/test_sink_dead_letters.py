"""What the sink does with a message it cannot store: dead-letter it, or skip it."""

import logging

from consumers.batches import DeadLetter, Skipped
from consumers.dead_letters import dispose
from consumers.errors import EmptyMessageError, NotJsonError, SchemaMismatchError
from schemas.registry import validate_event

LOG = logging.getLogger("test")


def _dispose(topic: str, error: Exception, value: bytes | None = b"{}") -> object:
    return dispose(
        topic=topic,
        partition=1,
        offset=7,
        value=value,
        headers=[("origin", b"test")],
        error=error,  # type: ignore[arg-type]
        deadletter_topic="p.deadletter",
        consumer_name="sink-test",
        log=LOG,
    )


def test_a_poison_message_becomes_a_valid_dead_letter_with_its_reason() -> None:
    entry = _dispose("p.feedback", NotJsonError("not UTF-8 JSON: bad"), value=b"\xff\x00")

    assert isinstance(entry, DeadLetter)
    record = entry.record
    validate_event(record, "deadletter.record")
    assert (record["source_topic"], record["source_partition"], record["source_offset"]) == (
        "p.feedback",
        1,
        7,
    )
    assert record["reason"] == "not UTF-8 JSON: bad" and record["error_type"] == "decode"
    assert record["payload_encoding"] == "base64" and record["consumer"] == "sink-test"


def test_the_same_message_dead_lettered_twice_has_one_event_id() -> None:
    first = _dispose("p.feedback", SchemaMismatchError("feedback: request_id: missing"))
    again = _dispose("p.feedback", SchemaMismatchError("feedback: request_id: missing"))
    other = _dispose("p.replies", SchemaMismatchError("feedback: request_id: missing"))

    assert isinstance(first, DeadLetter) and isinstance(again, DeadLetter)
    assert isinstance(other, DeadLetter)
    assert first.record["event_id"] == again.record["event_id"] != other.record["event_id"]


def test_a_malformed_dead_letter_is_skipped_never_dead_lettered_again() -> None:
    entry = _dispose("p.deadletter", SchemaMismatchError("deadletter.record: reason: missing"))

    assert entry == Skipped("malformed_dead_letter")


def test_a_tombstone_is_skipped() -> None:
    assert _dispose("p.feedback", EmptyMessageError("no value"), value=None) == Skipped("tombstone")
