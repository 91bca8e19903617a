"""The columns of each event table, read from the DDL in ``schemas/`` (never restated here),
and how one value is made to fit its column's type."""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from schemas.registry import table_ddl

#: Filled by ClickHouse (DEFAULT now64(3)), not by the sink.
INGESTED_AT = "_ingested_at"

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
