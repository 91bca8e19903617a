"""Events into table rows and rows into DataFrames, following the DDL of ``schemas/``.

The columns of a table are read from ``tables.sql`` (never restated here). An event
is flattened by ``schemas.columns``; a ``payload`` table also gets the event body as
JSON; every row gets the Kafka coordinates. Each value is checked against its column
type here, one row at a time, so a value ClickHouse could not store rejects its own
message instead of failing the batch.

Score requests may come without an envelope: their event id is derived from their
Kafka coordinates (so a re-read copy collapses into the same row) and their time is
the Kafka timestamp.
"""

import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

import pandas as pd

from consumers.errors import SchemaMismatchError
from schemas.columns import event_body, flatten_event
from schemas.registry import SCHEMA_VERSION, parse_timestamp, table_ddl

#: Filled by ClickHouse (DEFAULT now64(3)), not by the sink.
INGESTED_AT = "_ingested_at"
#: uuid5 namespace of event ids derived from Kafka coordinates.
KAFKA_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "splitstream:kafka")

_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS \w+\.(\w+)\s*\((.*)\)\s*ENGINE", re.DOTALL)
_COLUMN = re.compile(r"^\s*(\w+)\s+(.+?)(?:\s+DEFAULT\s+.*?)?,?\s*$")
_INTEGER = re.compile(r"(U?)Int(8|16|32|64)")


@dataclass(frozen=True)
class Column:
    """One column of an event table as declared, and how a value is checked for it."""

    name: str
    base: str  # the type inside LowCardinality(...) and Nullable(...)
    nullable: bool
    #: The value as the column stores it, or TypeError/ValueError saying why it cannot be.
    fit: Callable[[Any], Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Coordinates:
    """Where a message was read: the row's _topic, _partition and _offset."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int  # Kafka's message timestamp, -1 when unknown


def _column(name: str, declared: str) -> Column:
    nullable = False
    for wrapper in ("LowCardinality(", "Nullable("):
        if declared.startswith(wrapper):
            declared = declared[len(wrapper) : -1]
            nullable = nullable or wrapper == "Nullable("
    return Column(name, declared, nullable, _fitter(declared))


@cache
def _tables() -> dict[str, tuple[Column, ...]]:
    tables: dict[str, tuple[Column, ...]] = {}
    for statement in table_ddl("splitstream"):
        match = _TABLE.search(statement)
        if match is None:
            continue
        columns = (_COLUMN.match(line) for line in match.group(2).splitlines())
        tables[match.group(1)] = tuple(
            _column(c.group(1), c.group(2)) for c in columns if c and c.group(1) != INGESTED_AT
        )
    return tables


def table_columns(table: str) -> tuple[Column, ...]:
    """The columns the sink writes to ``table``, in DDL order; KeyError if there is none."""
    return _tables()[table]


def derived_event_id(topic: str, partition: int, offset: int) -> str:
    """A stable event id for a message that has none: the same message, the same id."""
    return str(uuid.uuid5(KAFKA_NAMESPACE, f"{topic}/{partition}/{offset}"))


def _kafka_time(timestamp_ms: int) -> datetime:
    if timestamp_ms < 0:
        return datetime.now(UTC)
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


def _score_request_envelope(event: Mapping[str, Any], where: Coordinates) -> dict[str, Any]:
    return {
        "event_id": event.get("event_id")
        or derived_event_id(where.topic, where.partition, where.offset),
        "event_type": "score.request",
        "schema_version": event.get("schema_version") or SCHEMA_VERSION,
        "occurred_at": event.get("occurred_at") or _kafka_time(where.timestamp_ms),
    }


def event_row(
    event: Mapping[str, Any], *, event_type: str, table: str, layout: str, where: Coordinates
) -> dict[str, Any]:
    """The row of ``table`` for a valid event, every column checked against its type.

    Raises:
        SchemaMismatchError: a value does not fit its column (the message names it).
    """
    values = flatten_event(event, event_type)
    if layout == "payload":
        values["payload"] = event_body(event)
    if event_type == "score.request":
        values.update(_score_request_envelope(event, where))
    values.update(_topic=where.topic, _partition=where.partition, _offset=where.offset)
    return {c.name: _checked(c, values.get(c.name), event_type) for c in table_columns(table)}


def _checked(column: Column, value: Any, event_type: str) -> Any:
    try:
        if value is None:
            if column.nullable:
                return None
            raise ValueError(f"null in a non-nullable {column.base} column")
        return column.fit(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise SchemaMismatchError(f"{event_type}: {column.name}: {error}") from error


def _fitter(base: str) -> Callable[[Any], Any]:
    """The check of one column type, chosen once per column (rows are checked per message)."""
    integer = _INTEGER.fullmatch(base)
    if integer:
        unsigned, bits = bool(integer.group(1)), int(integer.group(2))
        low, high = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        return partial(_integer, low=low, high=high, name=base)
    if base.startswith("Float"):
        return _float
    if base == "Bool":
        return _bool
    if base.startswith("DateTime"):
        return _timestamp
    if base.startswith("Array(String"):
        return _strings
    return _string


def _integer(value: Any, *, low: int, high: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} is not an integer")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError(f"{value!r} is not an integer")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{number} is out of range for {name}")
    return number


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{value!r} is not true or false")
    return value


def _timestamp(value: Any) -> datetime:
    moment = parse_timestamp(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise TypeError(f"{value!r} is not a timestamp with a zone")
    return moment.astimezone(UTC)


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{value!r} is not a list of strings")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _series(column: Column, values: list[Any]) -> pd.Series:
    base, nullable = column.base, column.nullable
    if _INTEGER.fullmatch(base):
        return pd.Series(values, dtype=base if nullable else base.lower())
    if base.startswith("Float"):
        return pd.Series(values, dtype="Float64" if nullable else "float64")
    if base == "Bool":
        return pd.Series(values, dtype="boolean" if nullable else "bool")
    if base.startswith("DateTime"):
        # Naive UTC: the column's zone places it; chDB warns on reading zoned pandas columns.
        moments = pd.to_datetime(values, utc=True).tz_convert(None)
        return pd.Series(moments).astype("datetime64[ms]")
    return pd.Series(values, dtype="object")


def frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows of ``table`` (from ``event_row``) as a DataFrame typed like its columns."""
    return pd.DataFrame(
        {c.name: _series(c, [row[c.name] for row in rows]) for c in table_columns(table)}
    )
