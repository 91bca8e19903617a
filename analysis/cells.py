"""Query cells as Python numbers: SQL NULL, NaN and pandas' NA mean "no data"."""

import json
import math
from typing import Any

import pandas as pd


def number(value: Any) -> float | None:
    """A float, or None for SQL NULL / NaN / NA."""
    if value is None or value is pd.NA:
        return None
    result = float(value)
    return None if math.isnan(result) else result


def count(value: Any) -> int:
    """A count; NULL is none."""
    return int(number(value) or 0)


def json_object(text: Any) -> dict[str, Any]:
    """A JSON object from a String cell; anything else (not text, not JSON, not an object)
    is empty."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
