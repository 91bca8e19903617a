"""All 13,320 listings of the data set as a client posting the file would send them.

pandas reads ``bath`` as floats (the column has missing values) and the bedrooms come out
of ``size`` ("2 BHK") as floats too; ``total_sqft`` is a number or a range ("1133 - 1384").
A client that posts these rows as they are must get a price (200) or a domain refusal
(422 ``out_of_domain``: a location or a size the model never saw), never a type error for
an integral float such as 2.0; rows that really are malformed (a missing value, a range)
get 422 ``invalid_input`` naming that field. tests/integration/test_serving_e2e.py posts
them.
"""

import math
from typing import Any

import pandas as pd


def listings(path: str) -> list[dict[str, Any]]:
    """Each row as pandas reads it: floats where pandas has floats, NaN as null, a range as
    the file writes it."""
    frame = pd.read_csv(path)
    sqft = pd.to_numeric(frame["total_sqft"], errors="coerce")
    bhk = frame["size"].str.split().str[0].astype(float)  # "2 BHK" -> 2.0, missing -> NaN
    rows = []
    for i in range(len(frame)):
        location = frame["location"].iloc[i]
        rows.append(
            {
                "location": location if isinstance(location, str) else None,
                "total_sqft": float(sqft.iloc[i])
                if not math.isnan(sqft.iloc[i])
                else str(frame["total_sqft"].iloc[i]),
                "bath": _number(frame["bath"].iloc[i]),
                "bhk": _number(bhk.iloc[i]),
            }
        )
    return rows


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def malformed_fields(body: dict[str, Any]) -> set[str]:
    """The fields the API must refuse whatever the model: missing, not a number, a fraction."""
    bad = set()
    location = body["location"]
    if not isinstance(location, str) or not location.strip():
        bad.add("location")
    sqft = body["total_sqft"]
    if not isinstance(sqft, float) or not 0 < sqft <= 1_000_000:
        bad.add("total_sqft")
    for field, low in (("bath", 0), ("bhk", 1)):
        value = body[field]
        if not isinstance(value, float) or not value.is_integer() or not low <= value <= 50:
            bad.add(field)
    return bad


def unexpected(body: dict[str, Any], status: int, error: dict[str, Any] | None) -> bool:
    """True when the answer breaks the rule: a well-formed row gets 200 or ``out_of_domain``,
    a malformed one ``invalid_input`` naming one of its malformed fields."""
    bad = malformed_fields(body)
    code = error["code"] if error else None
    if not bad:
        return not (status == 200 or (status, code) == (422, "out_of_domain"))
    return not ((status, code) == (422, "invalid_input") and error and error["field"] in bad)
