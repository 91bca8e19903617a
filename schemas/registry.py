"""Load Splitstream's contracts: topics, event JSON Schemas, ClickHouse DDL.

The JSON/SQL files next to this module are the single source of truth; everything here only
reads them. `$ref`s between schemas resolve offline through a `referencing.Registry`.
"""

from __future__ import annotations

import copy
import json
import re
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from schemas.errors import EventValidationError

SCHEMA_ROOT = Path(__file__).resolve().parent
EVENTS_DIR = SCHEMA_ROOT / "events"
TOPICS_FILE = SCHEMA_ROOT / "topics.json"
TABLES_SQL = SCHEMA_ROOT / "clickhouse" / "tables.sql"
VIEWS_SQL = SCHEMA_ROOT / "clickhouse" / "views.sql"
COMMON_FILE = "_common.json"

SCHEMA_VERSION = 1
ENVELOPE_FIELDS = ("event_id", "event_type", "schema_version", "occurred_at")
KAFKA_COLUMNS = ("_topic", "_partition", "_offset", "_ingested_at")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_MESSAGE = 500


@dataclass(frozen=True)
class TopicSpec:
    """One Kafka topic as declared in topics.json (name is before the configurable prefix)."""

    key: str
    name: str
    partitions: int
    events: tuple[str, ...]
    cleanup_policy: str
    description: str
    table: str
    table_layout: str  # "flat" (one column per property) or "payload" (envelope + JSON body)
    retention_ms: int | None = None


# --------------------------------------------------------------------------- topics


@cache
def _topics() -> tuple[TopicSpec, ...]:
    raw = json.loads(TOPICS_FILE.read_text(encoding="utf-8"))
    return tuple(
        TopicSpec(
            key=t["key"],
            name=t["name"],
            partitions=int(t["partitions"]),
            events=tuple(t["events"]),
            cleanup_policy=t["cleanup_policy"],
            description=t["description"],
            table=t["table"],
            table_layout=t["table_layout"],
            retention_ms=t.get("retention_ms"),
        )
        for t in raw["topics"]
    )


def load_topics() -> list[TopicSpec]:
    """All topics, in file order."""
    return list(_topics())


def topic(key: str) -> TopicSpec:
    """The topic with this key (e.g. "predict_replies"); KeyError if unknown."""
    for spec in _topics():
        if spec.key == key:
            return spec
    raise KeyError(f"unknown topic key {key!r}")


# --------------------------------------------------------------------------- schemas


@cache
def _raw_schemas() -> dict[str, dict[str, Any]]:
    """File stem -> parsed schema, including "_common"."""
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(EVENTS_DIR.glob("*.json"))
    }


def event_types() -> list[str]:
    """Every event type that has a schema file, sorted."""
    return sorted(k for k in _raw_schemas() if not k.startswith("_"))


def event_schema(event_type: str) -> dict[str, Any]:
    """A copy of the JSON Schema of `event_type`; KeyError if there is none."""
    if event_type.startswith("_") or event_type not in _raw_schemas():
        raise KeyError(f"no schema for event type {event_type!r}")
    return copy.deepcopy(_raw_schemas()[event_type])


def common_schema() -> dict[str, Any]:
    """A copy of _common.json (the shared $defs)."""
    return copy.deepcopy(_raw_schemas()[COMMON_FILE.removesuffix(".json")])


@cache
def schema_registry() -> Registry:
    """A referencing registry holding every schema under its $id (no network access)."""
    resources = [
        (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012))
        for s in _raw_schemas().values()
    ]
    return Registry().with_resources(resources).crawl()


@cache
def validator(event_type: str) -> Draft202012Validator:
    """A cached validator for `event_type`, with $refs resolved offline and formats checked."""
    schema = _raw_schemas().get(event_type)
    if schema is None or event_type.startswith("_"):
        raise KeyError(f"no schema for event type {event_type!r}")
    return Draft202012Validator(
        schema,
        registry=schema_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _path_of(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # Name the missing field itself, not the object that lacks it.
        missing = re.match(r"^'([^']+)'", error.message)
        if missing:
            parts.append(missing.group(1))
    elif error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        if extra:
            parts.append(extra[0])
    return ".".join(parts) if parts else "$"


def validate_event(obj: Any, event_type: str | None = None) -> None:
    """Raise EventValidationError (naming the field path) unless `obj` is a valid event.

    The event type is taken from `obj["event_type"]` unless given (score.request may omit it).
    """
    if event_type is None:
        if not isinstance(obj, Mapping):
            raise EventValidationError(None, "$", "event must be a JSON object")
        event_type = obj.get("event_type")
        if not isinstance(event_type, str):
            raise EventValidationError(None, "event_type", "missing or not a string")
    if event_type not in event_types():
        raise EventValidationError(event_type, "event_type", f"unknown event type {event_type!r}")
    error = best_match(validator(event_type).iter_errors(obj))
    if error is not None:
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        raise EventValidationError(event_type, _path_of(error), message)


def is_valid_event(obj: Any, event_type: str | None = None) -> bool:
    try:
        validate_event(obj, event_type)
    except EventValidationError:
        return False
    return True


# --------------------------------------------------------------------------- DDL


def table_ddl(database: str) -> list[str]:
    """The CREATE statements of tables.sql for `database`, one string per statement."""
    return _ddl(TABLES_SQL, database)


def view_ddl(database: str) -> list[str]:
    """The CREATE OR REPLACE VIEW statements of views.sql for `database`, in file order
    (a view may read an earlier one, so run them in this order after table_ddl)."""
    return _ddl(VIEWS_SQL, database)


def _ddl(path: Path, database: str) -> list[str]:
    """The statements of a DDL file with $database filled in, comment lines dropped."""
    if not _IDENTIFIER.match(database):
        raise ValueError(f"invalid ClickHouse database name {database!r}")
    text = string.Template(path.read_text(encoding="utf-8")).substitute(database=database)
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    statements: list[str] = []
    current: list[str] = []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().removesuffix(";").strip()
            if statement:
                statements.append(statement)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


# --------------------------------------------------------------------------- envelope


def format_timestamp(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and Z, e.g. 2026-11-27T02:11:58.123Z (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Inverse of format_timestamp (accepts any ISO-8601 with an offset; result is UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without timezone: {text!r}")
    return moment.astimezone(UTC)


def utc_now() -> str:
    """Now, formatted as an event timestamp."""
    return format_timestamp(datetime.now(UTC))


def new_event_envelope(event_type: str) -> dict[str, Any]:
    """event_id (uuid4), event_type, schema_version and occurred_at (now) for a new event."""
    if event_type not in event_types():
        raise KeyError(f"no schema for event type {event_type!r}")
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": utc_now(),
    }
