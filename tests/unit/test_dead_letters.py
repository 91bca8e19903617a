"""The one skip-or-dead-letter decision every consumer makes, and the record it builds."""

import logging
from typing import NamedTuple

import pytest

from plumbing.dead_letters import Action, decide, derived_event_id, dispose
from plumbing.errors import (
    EmptyMessageError,
    MessageRejectedError,
    NotJsonError,
    SchemaMismatchError,
    UnexpectedMessageError,
)
from predictors.errors import MissingReplyAddressError
from schemas.registry import validate_event

LOG = logging.getLogger("test")
DEADLETTER = "p.deadletter"


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        (NotJsonError("x"), "decode"),
        (SchemaMismatchError("x"), "schema"),
        (MissingReplyAddressError("x"), "missing_header"),
        (UnexpectedMessageError("x"), "internal"),
    ],
)
def test_a_rejected_message_on_an_owned_topic_is_dead_lettered_with_its_reason(
    error: MessageRejectedError, error_type: str
) -> None:
    decision = decide(error, topic="p.feedback", deadletter_topic=DEADLETTER)

    assert decision.action is Action.DEAD_LETTER
    assert (decision.error_type, decision.reason, decision.skip_reason) == (error_type, "x", "")


@pytest.mark.parametrize(
    ("error", "topic", "owns_topic", "skip_reason"),
    [
        (EmptyMessageError("no value"), "p.feedback", True, "tombstone"),
        (SchemaMismatchError("bad"), DEADLETTER, True, "malformed_dead_letter"),
        (NotJsonError("bad"), "p.model.events", False, "not_owner"),
    ],
    ids=["tombstone", "from-the-dead-letter-topic", "listened-topic"],
)
def test_what_is_skipped_and_why(
    error: MessageRejectedError, topic: str, owns_topic: bool, skip_reason: str
) -> None:
    decision = decide(error, topic=topic, deadletter_topic=DEADLETTER, owns_topic=owns_topic)

    assert decision.action is Action.SKIP and decision.skip_reason == skip_reason


def test_dispose_builds_a_valid_dead_letter_and_logs_where(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = Record("p.feedback", 1, 7, b"\xff\x00", [("origin", b"test")])
    caplog.set_level(logging.WARNING)

    disposal = dispose(
        record, NotJsonError("not UTF-8 JSON: bad"), deadletter_topic=DEADLETTER,
        consumer_name="sink-test", log=LOG,
    )  # fmt: skip

    dead = disposal.dead_letter
    assert dead is not None and disposal.topic == "p.feedback"
    validate_event(dead, "deadletter.record")
    assert (dead["source_topic"], dead["source_partition"], dead["source_offset"]) == (
        "p.feedback",
        1,
        7,
    )
    assert dead["reason"] == "not UTF-8 JSON: bad" and dead["error_type"] == "decode"
    assert dead["payload_encoding"] == "base64" and dead["consumer"] == "sink-test"
    assert dead["headers"] == {"origin": "test"}
    assert "dead-letter p.feedback[1]@7: decode: not UTF-8 JSON: bad" in caplog.text


def test_the_same_message_dead_lettered_twice_has_one_event_id() -> None:
    def event_id(topic: str) -> str:
        disposal = dispose(
            Record(topic, 1, 7, b"{}"), SchemaMismatchError("feedback: request_id: missing"),
            deadletter_topic=DEADLETTER, consumer_name="c", log=LOG,
        )  # fmt: skip
        assert disposal.dead_letter is not None
        return str(disposal.dead_letter["event_id"])

    assert event_id("p.feedback") == event_id("p.feedback") != event_id("p.replies")
    assert event_id("p.feedback") == derived_event_id("deadletter:p.feedback", 1, 7)


def test_a_skipped_message_has_no_dead_letter_but_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)

    disposal = dispose(
        Record("t", 0, 3, None), EmptyMessageError("tombstone"), deadletter_topic=DEADLETTER,
        consumer_name="c", log=LOG,
    )  # fmt: skip

    assert disposal.dead_letter is None and disposal.decision.skip_reason == "tombstone"
    assert "skip t[0]@3" in caplog.text
