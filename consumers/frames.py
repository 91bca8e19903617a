"""Rows as pandas DataFrames typed like their table's columns, as the sink inserts them."""

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd

from consumers.rows import Chunk, Coordinates, chunk_of
from consumers.table_columns import Column, table_columns


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
