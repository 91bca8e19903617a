"""Messages into rows: every event type's example becomes exactly its table's columns."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from consumers.decoding import decode_event
from consumers.frames import event_row, frame, table_frame
from consumers.rows import Coordinates, chunk_of
from consumers.writer import insert_token
from plumbing.dead_letters import derived_event_id
from plumbing.errors import (
    EmptyMessageError,
    MessageRejectedError,
    NotJsonError,
    SchemaMismatchError,
)
from schemas.columns import event_body, flatten_event
from schemas.registry import TABLES_SQL, TopicSpec, load_topics

EXAMPLES = TABLES_SQL.parent.parent / "examples"
TOPICS = [t for t in load_topics() if t.table]
#: (topic, event type, one valid example) for every event type a stored topic carries.
CASES = [
    (spec, event_type, sorted((EXAMPLES / event_type / "valid").glob("*.json"))[0])
    for spec in TOPICS
    for event_type in spec.events
]
INVALID = [
    (spec, path)
    for spec in TOPICS
    for event_type in spec.events
    for path in sorted((EXAMPLES / event_type / "invalid").glob("*.json"))
]
WHERE = Coordinates("t", 2, 41, 1_795_000_000_123)


def _declared_columns() -> dict[str, list[str]]:
    """Column names per table, read from tables.sql independently of consumers.table_columns."""
    text = TABLES_SQL.read_text(encoding="utf-8")
    tables = re.findall(r"CREATE TABLE IF NOT EXISTS \$database\.(\w+)\s*\((.*?)\n\)", text, re.S)
    return {name: re.findall(r"^\s*(\w+)\s", body, re.M) for name, body in tables}


DECLARED = _declared_columns()


def _id(case: Any) -> str:
    return case.name if isinstance(case, Path) else getattr(case, "key", str(case))


def _row(spec: TopicSpec, path: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    raw = path.read_bytes()
    event_type, event = decode_event(raw, events=spec.events, topic=spec.name)
    row = event_row(
        event, event_type=event_type, table=spec.table, layout=spec.table_layout, where=WHERE
    )
    return event_type, event, row


@pytest.mark.parametrize(("spec", "event_type", "path"), CASES, ids=_id)
def test_a_valid_example_becomes_exactly_the_tables_columns(
    spec: TopicSpec, event_type: str, path: Path
) -> None:
    decoded_type, event, row = _row(spec, path)

    assert decoded_type == event_type
    assert list(row) == [c for c in DECLARED[spec.table] if c != "_ingested_at"]
    assert (row["_topic"], row["_partition"], row["_offset"]) == ("t", 2, 41)
    flat = flatten_event(event, event_type)
    for column, value in row.items():
        if flat.get(column) is not None and isinstance(value, str | bool | int | list):
            assert value == flat[column], column  # as flattened (the sink fills missing ones)
    assert isinstance(row["occurred_at"], datetime) and row["occurred_at"].tzinfo == UTC
    if spec.table_layout == "payload":
        assert json.loads(row["payload"]) == json.loads(event_body(event))


@pytest.mark.parametrize(("spec", "event_type", "path"), CASES, ids=_id)
def test_rows_make_a_frame_typed_like_the_table(
    spec: TopicSpec, event_type: str, path: Path
) -> None:
    _, _, row = _row(spec, path)

    table = frame(spec.table, [row, row])

    assert list(table.columns) == list(row)
    assert len(table) == 2
    assert str(table["occurred_at"].dtype) == "datetime64[ms]"  # naive UTC
    assert table["occurred_at"].iloc[0] == pd.Timestamp(row["occurred_at"]).tz_convert(None)
    assert str(table["_offset"].dtype) == "uint64"


def test_a_minimal_score_request_gets_a_stable_event_id_and_the_kafka_time() -> None:
    spec = next(t for t in TOPICS if t.key == "score_requests")
    minimal = EXAMPLES / "score.request" / "valid" / "minimal.json"
    assert "event_id" not in json.loads(minimal.read_bytes())

    _, _, row = _row(spec, minimal)
    _, _, again = _row(spec, minimal)

    assert row["event_id"] == again["event_id"] == derived_event_id("t", 2, 41)
    assert row["event_id"] != derived_event_id("t", 2, 42)
    assert row["event_type"] == "score.request" and row["schema_version"] == 1
    kafka_time = datetime.fromtimestamp(WHERE.timestamp_ms / 1000, UTC)
    assert row["occurred_at"] == kafka_time


def test_a_score_request_keeps_the_envelope_it_came_with() -> None:
    spec = next(t for t in TOPICS if t.key == "score_requests")
    path = EXAMPLES / "score.request" / "valid" / "with_envelope_and_key.json"
    event = json.loads(path.read_bytes())

    _, _, row = _row(spec, path)

    assert row["event_id"] == event["event_id"]
    assert row["occurred_at"] == pd.Timestamp(event["occurred_at"]).to_pydatetime()


@pytest.mark.parametrize(("spec", "path"), INVALID, ids=_id)
def test_an_invalid_example_is_rejected_as_a_schema_error(spec: TopicSpec, path: Path) -> None:
    with pytest.raises(MessageRejectedError) as rejected:
        decode_event(path.read_bytes(), events=spec.events, topic=spec.name)
    assert rejected.value.error_type == "schema"
    assert str(rejected.value)


def test_poison_messages_are_rejected_with_their_cause() -> None:
    feedback = next(t for t in TOPICS if t.key == "feedback")
    valid = json.loads(sorted((EXAMPLES / "feedback" / "valid").glob("*.json"))[0].read_bytes())

    with pytest.raises(EmptyMessageError):
        decode_event(None, events=feedback.events, topic=feedback.name)
    with pytest.raises(NotJsonError, match="not UTF-8 JSON"):
        decode_event(b"\xff{not json", events=feedback.events, topic=feedback.name)
    with pytest.raises(NotJsonError, match="nested too deeply"):
        decode_event(b"[" * 100_000, events=feedback.events, topic=feedback.name)
    with pytest.raises(SchemaMismatchError, match="JSON object"):
        decode_event(b"[1, 2]", events=feedback.events, topic=feedback.name)
    missing = json.dumps({k: v for k, v in valid.items() if k != "request_id"}).encode()
    with pytest.raises(SchemaMismatchError, match="request_id"):
        decode_event(missing, events=feedback.events, topic=feedback.name)
    wrong_type = json.dumps({**valid, "event_type": "predict.reply"}).encode()
    with pytest.raises(SchemaMismatchError, match="does not belong on"):
        decode_event(wrong_type, events=feedback.events, topic=feedback.name)


def test_a_value_its_column_cannot_hold_rejects_the_message_naming_the_column() -> None:
    spec = next(t for t in TOPICS if t.key == "predict_requests_prod")
    path = sorted((EXAMPLES / "predict.request" / "valid").glob("*.json"))[0]
    _, event, _ = _row(spec, path)
    too_many = {**event, "features": {**event["features"], "bath": 300}}  # UInt8

    with pytest.raises(SchemaMismatchError, match="bath"):
        event_row(too_many, event_type="predict.request", table="requests", layout="flat",
                  where=WHERE)  # fmt: skip


# --------------------------------------------------------------------------- many rows at once


def _requests(count: int) -> list[tuple[str, dict[str, Any]]]:
    path = sorted((EXAMPLES / "predict.request" / "valid").glob("*.json"))[0]
    event = json.loads(path.read_bytes())
    return [("predict.request", {**event, "event_id": f"e{i}"}) for i in range(count)]


def _where(count: int) -> list[Coordinates]:
    return [Coordinates("t", 2, 100 + i, -1) for i in range(count)]


def test_a_chunk_holds_every_column_of_every_row_typed_for_its_column() -> None:
    events = _requests(3)
    events[1][1]["features"] = {**events[1][1]["features"], "bath": 2.0}  # the schema's integer

    chunk, rejected = chunk_of(events, table="requests", layout="flat", where=_where(3))

    assert rejected == {}
    assert list(chunk.columns) == [c for c in DECLARED["requests"] if c != "_ingested_at"]
    assert chunk.columns["event_id"] == ["e0", "e1", "e2"]
    assert chunk.columns["bath"][1] == 2 and type(chunk.columns["bath"][1]) is int
    assert chunk.columns["_offset"] == [100, 101, 102]
    assert str(chunk.columns["occurred_at"].dtype) == "datetime64[ms]"
    table = table_frame("requests", [chunk, chunk.select([2])])
    assert len(table) == 4 and str(table["bath"].dtype) == "uint8"
    assert list(table["event_id"]) == ["e0", "e1", "e2", "e2"]


@pytest.mark.parametrize(
    ("change", "column", "reason"),
    [
        ({"reply_to": {"topic": "predict.replies", "partition": 2**40}}, "reply_partition",
         "out of range for UInt32"),
        ({"request_id": None}, "request_id", "null in a non-nullable String column"),
        ({"shadow": "yes"}, "shadow", "not true or false"),
        ({"occurred_at": "2026-02-30T00:00:00.000Z"}, "occurred_at", "not a timestamp"),
        ({"features": {"location": "x", "total_sqft": "big", "bath": 1, "bhk": 1}},
         "total_sqft", "not a number"),
    ],
    ids=["out-of-range", "null", "not-a-bool", "no-such-day", "not-a-number"],
)  # fmt: skip
def test_a_value_its_column_cannot_hold_rejects_only_its_own_row_naming_the_column(
    change: dict[str, Any], column: str, reason: str
) -> None:
    events = _requests(3)
    events[1] = ("predict.request", {**events[1][1], **change})

    chunk, rejected = chunk_of(events, table="requests", layout="flat", where=_where(3))

    assert list(rejected) == [1]
    assert isinstance(rejected[1], SchemaMismatchError)
    assert str(rejected[1]).startswith(f"predict.request: {column}: ")
    assert reason in str(rejected[1])
    assert chunk.columns["event_id"] == ["e0", "e2"] and chunk.columns["_offset"] == [100, 102]
    assert len(chunk.columns["occurred_at"]) == 2


def test_minimal_score_requests_in_a_chunk_get_their_envelopes_row_by_row() -> None:
    minimal = json.loads((EXAMPLES / "score.request" / "valid" / "minimal.json").read_bytes())
    enveloped = json.loads(
        (EXAMPLES / "score.request" / "valid" / "with_envelope_and_key.json").read_bytes()
    )
    events = [("score.request", minimal), ("score.request", enveloped)]

    chunk, rejected = chunk_of(events, table="score_requests", layout="flat", where=[WHERE, WHERE])

    assert rejected == {}
    assert chunk.columns["event_id"] == [derived_event_id("t", 2, 41), enveloped["event_id"]]
    assert chunk.columns["event_type"] == ["score.request", "score.request"]


def test_the_insert_token_names_exactly_the_rows_it_holds() -> None:
    rows = [Coordinates("a", 0, o, -1) for o in (5, 6, 7, 9)] + [Coordinates("b", 1, 3, -1)]

    token = insert_token("requests", rows)

    assert token == insert_token("requests", list(reversed(rows)))  # any order
    assert token.startswith("requests:5:")
    assert len({
        token,
        insert_token("replies", rows),
        insert_token("requests", rows[:-1]),
        insert_token("requests", [*rows[:3], Coordinates("a", 0, 8, -1), rows[4]]),
        insert_token("requests", [*rows[:4], Coordinates("b", 2, 3, -1)]),
    }) == 5  # fmt: skip
