"""Events into table columns, many messages at a time, following the DDL of ``schemas/``.

The columns of a table are read from ``tables.sql`` (never restated here). An event is
flattened as ``schemas.columns`` says; a ``payload`` table also gets the event body as
JSON; every row gets its Kafka coordinates. The events of one poll become a ``Chunk``:
one list per column, built column by column. Each column is checked against its type
in one pass (a row-by-row pass runs only when that fails), so a value ClickHouse could
not store rejects its own message, naming the column, instead of failing the batch.

Score requests may come without an envelope: their event id is derived from their
Kafka coordinates (so a re-read copy collapses into the same row) and their time is
the Kafka timestamp.
"""

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from consumers.errors import SchemaMismatchError
from plumbing.dead_letters import derived_event_id
from schemas.columns import column_values, event_body, flat_columns, value_at
from schemas.registry import SCHEMA_VERSION, table_ddl

__all__ = [
    "Chunk",
    "Column",
    "Coordinates",
    "chunk_of",
    "derived_event_id",
    "event_row",
    "frame",
    "table_columns",
    "table_frame",
]

#: Filled by ClickHouse (DEFAULT now64(3)), not by the sink.
INGESTED_AT = "_ingested_at"
KAFKA_COLUMNS = ("_topic", "_partition", "_offset")

_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS \w+\.(\w+)\s*\((.*)\)\s*ENGINE", re.DOTALL)
_COLUMN = re.compile(r"^\s*(\w+)\s+(.+?)(?:\s+DEFAULT\s+.*?)?,?\s*$")
_INTEGER = re.compile(r"(U?)Int(8|16|32|64)")


@dataclass(frozen=True)
class Column:
    """One column of an event table as declared, and how its values are checked."""

    name: str
    base: str  # the type inside LowCardinality(...) and Nullable(...)
    nullable: bool
    #: "integer", "float", "bool", "timestamp", "strings" (an array) or "string".
    kind: str
    #: Inclusive range of an integer column.
    low: int = 0
    high: int = 0
    #: The value as the column stores it, or TypeError/ValueError saying why it cannot be.
    fit: Callable[[Any], Any] = field(compare=False, repr=False, default=lambda v: v)


@dataclass(frozen=True)
class Coordinates:
    """Where a message was read: the row's _topic, _partition and _offset."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int  # Kafka's message timestamp, -1 when unknown


@dataclass(frozen=True)
class Chunk:
    """Rows of one table, column by column (timestamps as naive-UTC datetime64[ms])."""

    table: str
    where: list[Coordinates]
    columns: dict[str, Any]

    def __len__(self) -> int:
        return len(self.where)

    def select(self, keep: Sequence[int]) -> "Chunk":
        """The rows at the indices ``keep``, in that order."""
        index = list(keep)
        columns = {
            name: values[index] if isinstance(values, np.ndarray) else [values[i] for i in index]
            for name, values in self.columns.items()
        }
        return Chunk(self.table, [self.where[i] for i in index], columns)


# --------------------------------------------------------------------------- the DDL


def _column(name: str, declared: str) -> Column:
    nullable = False
    for wrapper in ("LowCardinality(", "Nullable("):
        if declared.startswith(wrapper):
            declared = declared[len(wrapper) : -1]
            nullable = nullable or wrapper == "Nullable("
    integer = _INTEGER.fullmatch(declared)
    if integer:
        unsigned, bits = bool(integer.group(1)), int(integer.group(2))
        low, high = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        fit = _integer_fit(low, high, declared)
        return Column(name, declared, nullable, "integer", low, high, fit)
    kind, fit = _KINDS[next(k for k in _KINDS if declared.startswith(k))]
    return Column(name, declared, nullable, kind, fit=fit)


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


@cache
def _paths(event_type: str) -> dict[str, tuple[str, ...]]:
    return {c.name: c.path for c in flat_columns(event_type)}


# --------------------------------------------------------------------------- one value


def _integer_fit(low: int, high: int, name: str) -> Callable[[Any], int]:
    def fit(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{value!r} is not an integer")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ValueError(f"{value!r} is not an integer")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"{number} is out of range for {name}")
        return number

    return fit


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{value!r} is not true or false")
    return value


def _timestamp(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
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


#: Type prefix -> (kind, check of one value); the first prefix that matches wins.
_KINDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "Float": ("float", _float),
    "Bool": ("bool", _bool),
    "DateTime": ("timestamp", _timestamp),
    "Array(String": ("strings", _strings),
    "": ("string", _string),
}


# --------------------------------------------------------------------------- one column


def _all_fit(column: Column, values: list[Any]) -> bool:
    """The fast check: every value is already stored as it is (nulls aside)."""
    present = [v for v in values if v is not None] if None in values else values
    types = set(map(type, present))
    kind = column.kind
    if kind == "string":
        return types <= {str}
    if kind == "integer":
        return types <= {int} and (
            not present or (column.low <= min(present) and max(present) <= column.high)
        )
    if kind == "float":
        return types <= {int, float}
    if kind == "bool":
        return types <= {bool}
    return types <= {list} and all(set(map(type, v)) <= {str} for v in present)


def _checked(column: Column, values: list[Any]) -> tuple[Any, dict[int, str]]:
    """The column's values as stored, and why each value that cannot be is not, by row."""
    errors: dict[int, str] = {}
    if not column.nullable and None in values:
        reason = f"null in a non-nullable {column.base} column"
        errors = {i: reason for i, v in enumerate(values) if v is None}
    if column.kind == "timestamp":
        moments = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        for i in np.flatnonzero(moments.isna()).tolist():
            if values[i] is not None:
                errors[int(i)] = f"{values[i]!r} is not a timestamp with a zone"
        return moments.tz_convert(None).to_numpy().astype("datetime64[ms]"), errors
    if _all_fit(column, values):
        return values, errors
    fitted = list(values)
    for i, value in enumerate(values):
        if value is not None:
            try:
                fitted[i] = column.fit(value)
            except (TypeError, ValueError, OverflowError) as error:
                errors[i] = str(error)
    return fitted, errors


# --------------------------------------------------------------------------- many events


def _raw_columns(
    events: Sequence[tuple[str, Mapping[str, Any]]], *, table: str, layout: str
) -> dict[str, list[Any]]:
    types = {event_type for event_type, _ in events}
    one_type = next(iter(types)) if len(types) == 1 else None
    raw: dict[str, list[Any]] = {}
    for column in table_columns(table):
        name = column.name
        if name in KAFKA_COLUMNS:
            continue
        if name == "payload" and layout == "payload":
            raw[name] = [event_body(event) for _, event in events]
        elif one_type is not None:
            path = _paths(one_type).get(name)
            raw[name] = (
                [None] * len(events)
                if path is None
                else column_values([e for _, e in events], path)
            )
        else:
            raw[name] = [
                value_at(e, path) if (path := _paths(t).get(name)) is not None else None
                for t, e in events
            ]
    return raw


def _kafka_time(timestamp_ms: int) -> datetime:
    if timestamp_ms < 0:
        return datetime.now(UTC)
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


def _fill_score_request_envelopes(raw: dict[str, list[Any]], where: list[Coordinates]) -> None:
    """An envelope for each score request that came without one (any Kafka producer may)."""
    for i, here in enumerate(where):
        if raw["event_id"][i] is None:
            raw["event_id"][i] = derived_event_id(here.topic, here.partition, here.offset)
        raw["event_type"][i] = raw["event_type"][i] or "score.request"
        raw["schema_version"][i] = raw["schema_version"][i] or SCHEMA_VERSION
        raw["occurred_at"][i] = raw["occurred_at"][i] or _kafka_time(here.timestamp_ms)


def chunk_of(
    events: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    table: str,
    layout: str,
    where: list[Coordinates],
) -> tuple[Chunk, dict[int, SchemaMismatchError]]:
    """The rows of ``table`` for valid ``(event_type, event)`` pairs read at ``where``.

    Returns:
        The chunk of the rows that fit their columns, and the rejection of every other
        event by its index in ``events`` (the error names the event type and column).
    """
    raw = _raw_columns(events, table=table, layout=layout)
    if events and events[0][0] == "score.request":
        _fill_score_request_envelopes(raw, where)
    raw["_topic"] = [w.topic for w in where]
    raw["_partition"] = [w.partition for w in where]
    raw["_offset"] = [w.offset for w in where]
    columns: dict[str, Any] = {}
    rejected: dict[int, SchemaMismatchError] = {}
    for column in table_columns(table):
        columns[column.name], errors = _checked(column, raw[column.name])
        for i, reason in errors.items():
            if i not in rejected:
                rejected[i] = SchemaMismatchError(f"{events[i][0]}: {column.name}: {reason}")
    chunk = Chunk(table, where, columns)
    if rejected:
        chunk = chunk.select([i for i in range(len(events)) if i not in rejected])
    return chunk, rejected


# --------------------------------------------------------------------------- frames


def _series(column: Column, values: Any) -> pd.Series:
    base, nullable = column.base, column.nullable
    if column.kind == "integer":
        return pd.Series(values, dtype=base if nullable else base.lower())
    if column.kind == "float":
        return pd.Series(values, dtype="Float64" if nullable else "float64")
    if column.kind == "bool":
        return pd.Series(values, dtype="boolean" if nullable else "bool")
    if column.kind == "timestamp":
        # Naive UTC: the column's zone places it; chDB warns on reading zoned pandas columns.
        return pd.Series(np.asarray(values, dtype="datetime64[ms]"))
    return pd.Series(values, dtype="object")


def _joined(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [value for part in parts for value in part]


def table_frame(table: str, chunks: Sequence[Chunk]) -> pd.DataFrame:
    """The rows of ``chunks`` (all of ``table``) as one DataFrame typed like its columns."""
    return pd.DataFrame(
        {
            c.name: _series(c, _joined([chunk.columns[c.name] for chunk in chunks]))
            for c in table_columns(table)
        }
    )


# --------------------------------------------------------------------------- one row


def event_row(
    event: Mapping[str, Any], *, event_type: str, table: str, layout: str, where: Coordinates
) -> dict[str, Any]:
    """The row of ``table`` for one valid event, every column checked against its type.

    Raises:
        SchemaMismatchError: a value does not fit its column (the message names it).
    """
    chunk, rejected = chunk_of([(event_type, event)], table=table, layout=layout, where=[where])
    if rejected:
        raise rejected[0]
    return {
        name: (
            pd.Timestamp(values[0]).tz_localize(UTC).to_pydatetime()
            if isinstance(values, np.ndarray)
            else values[0]
        )
        for name, values in chunk.columns.items()
    }


def frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of ``table`` (from ``event_row``) as a DataFrame typed like its columns."""
    columns: dict[str, Any] = {}
    for column in table_columns(table):
        values = [row[column.name] for row in rows]
        if column.kind == "timestamp":
            moments = pd.to_datetime(values, utc=True, format="ISO8601")
            columns[column.name] = moments.tz_convert(None).to_numpy().astype("datetime64[ms]")
        else:
            columns[column.name] = values
    where = [Coordinates(row["_topic"], row["_partition"], row["_offset"], -1) for row in rows]
    return table_frame(table, [Chunk(table, where, columns)])
