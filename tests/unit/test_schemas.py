"""The contracts agree with themselves: JSON Schemas, examples, pydantic models, topics, DDL."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from schemas import registry
from schemas.columns import event_body, flat_columns, flat_properties, flatten_event
from schemas.envelope import Event
from schemas.errors import EventValidationError
from schemas.model_events import ModelReload
from schemas.models import EVENT_MODELS, parse_event
from schemas.serving_events import PredictReply

SCHEMAS = Path(registry.__file__).resolve().parent
EXAMPLES = SCHEMAS / "examples"
EVENT_TYPES = registry.event_types()
Node = Mapping[str, Any]


def _examples(kind: str) -> list[Any]:
    return [
        pytest.param(path.parent.parent.name, path, id=f"{path.parent.parent.name}/{path.stem}")
        for path in sorted(EXAMPLES.glob(f"*/{kind}/*.json"))
    ]


VALID = _examples("valid")
INVALID = _examples("invalid")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- examples


def test_every_event_type_has_one_valid_and_two_invalid_examples() -> None:
    assert sorted(p.name for p in EXAMPLES.iterdir()) == EVENT_TYPES
    for event_type in EVENT_TYPES:
        assert len(list((EXAMPLES / event_type / "valid").glob("*.json"))) >= 1, event_type
        assert len(list((EXAMPLES / event_type / "invalid").glob("*.json"))) >= 2, event_type


@pytest.mark.parametrize(("event_type", "path"), VALID)
def test_valid_example_passes_json_schema(event_type: str, path: Path) -> None:
    event = _load(path)
    registry.validate_event(event, event_type)
    assert list(registry.validator(event_type).iter_errors(event)) == []


@pytest.mark.parametrize(("event_type", "path"), VALID)
def test_valid_example_passes_model(event_type: str, path: Path) -> None:
    model = EVENT_MODELS[event_type].model_validate(_load(path))
    assert isinstance(model, BaseModel)


@pytest.mark.parametrize(("event_type", "path"), INVALID)
def test_invalid_example_fails_json_schema(event_type: str, path: Path) -> None:
    with pytest.raises(EventValidationError) as caught:
        registry.validate_event(_load(path), event_type)
    assert caught.value.event_type == event_type
    assert caught.value.path


@pytest.mark.parametrize(("event_type", "path"), INVALID)
def test_invalid_example_fails_model(event_type: str, path: Path) -> None:
    with pytest.raises(ValidationError):
        EVENT_MODELS[event_type].model_validate(_load(path))


@pytest.mark.parametrize(("event_type", "path"), VALID)
def test_model_dump_round_trips_through_json_schema(event_type: str, path: Path) -> None:
    original = _load(path)
    dumped = EVENT_MODELS[event_type](**original).model_dump(mode="json")
    registry.validate_event(dumped, event_type)
    again = EVENT_MODELS[event_type].model_validate_json(json.dumps(dumped))
    assert again.model_dump(mode="json") == dumped


# ----------------------------------------------------------------------------- models vs schemas


def _shape(node: Node, lookup: Callable[[Node], Node]) -> Any:
    """Property names, required set and enum values of a pydantic schema, recursively."""
    while "$ref" in node:
        node = lookup(node)
    for branch in node.get("anyOf", []):
        target = branch
        while "$ref" in target:
            target = lookup(target)
        if target.get("type") == "object" or "enum" in target or "const" in target:
            return _shape(target, lookup)
    if "properties" in node:
        return {
            "required": sorted(node.get("required", [])),
            "properties": {k: _shape(v, lookup) for k, v in node["properties"].items()},
        }
    values = node.get("enum", [node["const"]] if "const" in node else None)
    if values is not None:
        return sorted(str(v) for v in values if v is not None)
    return node.get("type") == "object"


def _file_shape(event_type: str) -> Any:
    """The same shape for a schema file, resolving $refs through the offline registry."""
    base = registry.event_schema(event_type)["$id"]
    reg = registry.schema_registry()

    def walk(node: Node, resolver: Any) -> Any:
        while "$ref" in node:
            resolved = resolver.lookup(node["$ref"])
            node, resolver = resolved.contents, resolved.resolver
        for branch in node.get("anyOf", []):
            if branch.get("type") != "null":
                return walk(branch, resolver)
        if "properties" in node:
            return {
                "required": sorted(node.get("required", [])),
                "properties": {k: walk(v, resolver) for k, v in node["properties"].items()},
            }
        values = node.get("enum", [node["const"]] if "const" in node else None)
        if values is not None:
            return sorted(str(v) for v in values if v is not None)
        return node.get("type") == "object"

    return walk(registry.event_schema(event_type), reg.resolver(base_uri=base))


def _model_shape(model: type[BaseModel]) -> Any:
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    return _shape(schema, lambda node: defs[node["$ref"].rsplit("/", 1)[-1]])


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_model_fields_and_required_match_schema(event_type: str) -> None:
    assert _model_shape(EVENT_MODELS[event_type]) == _file_shape(event_type)


def test_every_event_type_has_a_model_and_a_schema() -> None:
    assert sorted(EVENT_MODELS) == EVENT_TYPES


@pytest.mark.parametrize("event_type", sorted(set(EVENT_TYPES) - {"score.request"}))
def test_model_event_type_literal_names_its_event(event_type: str) -> None:
    model = EVENT_MODELS[event_type]
    assert issubclass(model, Event)
    assert model.event_type_name() == event_type


# ----------------------------------------------------------------------------- schema hygiene


def _properties(node: Any, where: str) -> Iterator[tuple[str, Node]]:
    """Every property definition (conditional if/then subschemas only restate constraints)."""
    if isinstance(node, Mapping):
        for name, prop in node.get("properties", {}).items():
            yield f"{where}.{name}", prop
        for key, child in node.items():
            if key in ("allOf", "if", "then", "else"):
                continue
            if key != "properties" or not isinstance(child, Mapping):
                yield from _properties(child, f"{where}.{key}")
            else:
                for name, prop in child.items():
                    yield from _properties(prop, f"{where}.{name}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _properties(child, f"{where}[{i}]")


@pytest.mark.parametrize("stem", [*EVENT_TYPES, "_common"])
def test_schema_file_is_well_formed_draft_2020_12_with_descriptions(stem: str) -> None:
    schema = _load(SCHEMAS / "events" / f"{stem}.json")
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{stem}.json")
    assert schema["title"] and schema["description"]
    undocumented = [where for where, prop in _properties(schema, stem) if "description" not in prop]
    assert undocumented == []


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_event_schema_forbids_unknown_fields_and_pins_its_envelope(event_type: str) -> None:
    schema = registry.event_schema(event_type)
    assert schema["additionalProperties"] is False
    assert set(registry.ENVELOPE_FIELDS) <= set(schema["properties"])
    if event_type != "score.request":
        assert set(registry.ENVELOPE_FIELDS) <= set(schema["required"])
        assert schema["properties"]["event_type"]["const"] == event_type


# ----------------------------------------------------------------------------- validation API


def _valid(event_type: str, name: str | None = None) -> dict[str, Any]:
    if name is not None:
        return _load(EXAMPLES / event_type / "valid" / f"{name}.json")
    return _load(sorted((EXAMPLES / event_type / "valid").glob("*.json"))[0])


def test_validation_error_names_nested_field_path() -> None:
    event = _valid("predict.request")
    event["features"]["total_sqft"] = 0
    with pytest.raises(EventValidationError, match=r"features\.total_sqft"):
        registry.validate_event(event)


def test_validation_error_names_missing_field() -> None:
    event = _valid("feedback")
    del event["request_id"]
    with pytest.raises(EventValidationError) as caught:
        registry.validate_event(event)
    assert caught.value.path == "request_id"


def test_validation_rejects_unknown_or_missing_event_type() -> None:
    with pytest.raises(EventValidationError, match="unknown event type"):
        registry.validate_event({"event_type": "nope"})
    with pytest.raises(EventValidationError, match="event_type"):
        registry.validate_event({"id": "x"})
    assert registry.is_valid_event(_valid("score.request"), "score.request")


def test_ok_reply_needs_price_and_error_reply_needs_error() -> None:
    ok = _valid("predict.reply", "ok")
    assert ok["status"] == "ok"
    with pytest.raises(EventValidationError, match="price_lakhs"):
        registry.validate_event({**ok, "price_lakhs": None})
    with pytest.raises(ValidationError, match="price_lakhs"):
        PredictReply.model_validate({**ok, "price_lakhs": None})
    error = _valid("predict.reply", "error_no_model")
    with pytest.raises(EventValidationError, match="error"):
        registry.validate_event({**error, "error": None})


def test_validator_is_cached_and_checks_formats() -> None:
    assert registry.validator("feedback") is registry.validator("feedback")
    assert registry.validator("feedback").format_checker is not None


def test_parse_event_picks_the_model_by_event_type() -> None:
    assert isinstance(parse_event(_valid("model.reload")), ModelReload)
    with pytest.raises(ValueError, match="unknown event type"):
        parse_event({"event_type": "nope"})


# ----------------------------------------------------------------------------- envelope


def test_new_event_envelope_has_uuid4_and_millisecond_utc_timestamp() -> None:
    envelope = registry.new_event_envelope("feedback")
    assert uuid.UUID(envelope["event_id"]).version == 4
    assert envelope["event_type"] == "feedback"
    assert envelope["schema_version"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", envelope["occurred_at"])
    age = datetime.now(UTC) - registry.parse_timestamp(envelope["occurred_at"])
    assert timedelta(0) <= age < timedelta(seconds=5)


def test_model_create_fills_the_envelope_and_validates() -> None:
    event = ModelReload.create(generation=3, best="v1", candidate=None, reason="promote")
    registry.validate_event(event.model_dump(mode="json"))
    assert event.event_type == "model.reload"


def test_timestamps_serialise_as_utc_milliseconds_with_z() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 11, 27, 7, 41, 58, 123456, tzinfo=ist)
    assert registry.format_timestamp(moment) == "2026-11-27T02:11:58.123Z"
    event = ModelReload.create(
        occurred_at=moment, generation=1, best="v1", candidate=None, reason="r"
    )
    assert event.model_dump(mode="json")["occurred_at"] == "2026-11-27T02:11:58.123Z"
    with pytest.raises(ValidationError):
        ModelReload.create(
            occurred_at=datetime(2026, 1, 1), generation=1, best="v", candidate=None, reason="r"
        )


# ----------------------------------------------------------------------------- topics


TOPICS = registry.load_topics()


def test_topics_have_the_agreed_names_and_partitions() -> None:
    assert {t.name: t.partitions for t in TOPICS} == {
        "predict.requests.prod": 3,
        "predict.requests.candidate": 3,
        "predict.replies": 6,
        "score.requests": 3,
        "score.results": 3,
        "feedback": 3,
        "model.events": 1,
        "promoter.commands": 1,
        "promoter.ledger": 1,
        "deadletter": 1,
    }
    assert len({t.key for t in TOPICS}) == len(TOPICS)
    assert registry.topic("promoter_ledger").retention_ms == -1
    assert all(t.cleanup_policy == "delete" for t in TOPICS)


def test_every_topic_event_has_a_schema_file() -> None:
    for spec in TOPICS:
        for event_type in spec.events:
            assert (SCHEMAS / "events" / f"{event_type}.json").is_file(), (spec.key, event_type)


def test_every_schema_file_is_used_by_some_topic() -> None:
    used = {event_type for spec in TOPICS for event_type in spec.events}
    assert used == set(EVENT_TYPES)


# ----------------------------------------------------------------------------- ClickHouse DDL


TABLE_RE = re.compile(
    r"CREATE TABLE IF NOT EXISTS \$database\.(\w+)\s*\((.*?)\n\)\s*(ENGINE.*?);", re.DOTALL
)
COLUMN_RE = re.compile(r"^\s*(\w+)\s+(\S.*?),?\s*$", re.MULTILINE)
DDL_TEXT = registry.TABLES_SQL.read_text(encoding="utf-8")
TABLES: dict[str, dict[str, str]] = {
    name: dict(COLUMN_RE.findall(body)) for name, body, _ in TABLE_RE.findall(DDL_TEXT)
}
ENGINES = {name: engine for name, _, engine in TABLE_RE.findall(DDL_TEXT)}
TOPIC_TABLES = sorted({(t.table, t.table_layout, t.events) for t in TOPICS})


def test_every_topic_table_exists_and_every_table_has_a_topic() -> None:
    assert {t.table for t in TOPICS} == set(TABLES)


@pytest.mark.parametrize(("table", "layout", "events"), TOPIC_TABLES, ids=lambda v: str(v))
def test_table_columns_cover_flattened_schema_properties(
    table: str, layout: str, events: tuple[str, ...]
) -> None:
    columns = set(TABLES[table])
    properties = {p for event_type in events for p in flat_properties(event_type)}
    if layout == "flat":
        assert properties - columns == set()
    else:
        assert {*registry.ENVELOPE_FIELDS, "payload"} <= columns
        typed = columns - {*registry.ENVELOPE_FIELDS, *registry.KAFKA_COLUMNS, "payload"}
        assert typed and typed <= properties


@pytest.mark.parametrize(("table", "layout", "events"), TOPIC_TABLES, ids=lambda v: str(v))
def test_table_column_is_nullable_exactly_where_schema_allows_null(
    table: str, layout: str, events: tuple[str, ...]
) -> None:
    for event_type in events:
        for column in flat_columns(event_type):
            if column.name not in TABLES[table]:
                continue
            nullable_column = "Nullable(" in TABLES[table][column.name]
            if layout == "payload":  # typed columns are absent from some event types
                assert nullable_column or column.name in registry.ENVELOPE_FIELDS, column
            elif event_type == "score.request" and column.name in registry.ENVELOPE_FIELDS:
                assert not nullable_column, column  # the sink fills the envelope in
            else:
                assert nullable_column == column.nullable, (event_type, column)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_has_kafka_columns_and_dedups_by_event_id(table: str) -> None:
    columns = TABLES[table]
    assert columns["event_id"] == "String"
    assert columns["occurred_at"] == "DateTime64(3, 'UTC')"
    assert columns["_topic"] == "LowCardinality(String)"
    assert columns["_partition"] == "UInt32"
    assert columns["_offset"] == "UInt64"
    assert columns["_ingested_at"] == "DateTime64(3, 'UTC') DEFAULT now64(3)"
    engine = ENGINES[table]
    assert engine.startswith("ENGINE = ReplacingMergeTree")
    assert "PARTITION BY toYYYYMM(occurred_at)" in engine
    assert re.search(r"ORDER BY \(?[^\n]*\bevent_id\b", engine)
    assert "non_replicated_deduplication_window = 1000" in engine


def test_table_ddl_splits_into_statements_for_the_given_database() -> None:
    statements = registry.table_ddl("splitstream_test")
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS splitstream_test"
    assert len(statements) == 1 + len(TABLES)
    assert all("$" not in s and not s.endswith(";") for s in statements)
    assert all(s.startswith("CREATE TABLE IF NOT EXISTS splitstream_test.") for s in statements[1:])
    with pytest.raises(ValueError, match="database"):
        registry.table_ddl("x; DROP TABLE y")


# ----------------------------------------------------------------------------- flattening


@pytest.mark.parametrize(("event_type", "path"), VALID)
def test_flatten_event_yields_one_scalar_per_column(event_type: str, path: Path) -> None:
    row = flatten_event(_load(path), event_type)
    assert list(row) == flat_properties(event_type)
    assert all(not isinstance(v, dict) for v in row.values())


def test_flatten_event_renames_nested_objects_and_nulls_absent_ones() -> None:
    request = flatten_event(_valid("predict.request", "hashed_http"))
    assert request["total_sqft"] == 1200.0 and request["reply_topic"] == "predict.replies"
    reply = flatten_event(_valid("predict.reply", "ok"))
    assert reply["error_code"] is None and reply["batch_size"] == 16
    assert json.loads(event_body(_valid("model.reload"))) == {
        "generation": 7,
        "best": "20261127-0211-ridge",
        "candidate": None,
        "reason": "promote",
    }
