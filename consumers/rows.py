"""Events into table rows, many messages at a time, following the DDL of ``schemas/``.

An event is flattened as ``schemas.columns`` says; a ``payload`` table also gets the event
body as JSON; every row gets its Kafka coordinates. The events of one poll become a
``Chunk``: one list per column, built column by column. Each column is checked against its
type in one pass (a row-by-row pass runs only when that fails), so a value ClickHouse could
not store rejects its own message, naming the column, instead of failing the batch.

Score requests may come without an envelope: their event id is derived from their
Kafka coordinates (so a re-read copy collapses into the same row) and their time is
the Kafka timestamp.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from consumers.table_columns import Column, table_columns
from plumbing.dead_letters import derived_event_id
from plumbing.errors import SchemaMismatchError
from schemas.columns import column_values, event_body, flat_columns, value_at
from schemas.registry import SCHEMA_VERSION

KAFKA_COLUMNS = ("_topic", "_partition", "_offset")


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


@cache
def _paths(event_type: str) -> dict[str, tuple[str, ...]]:
    return {c.name: c.path for c in flat_columns(event_type)}


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
