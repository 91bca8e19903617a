"""Field types and nested objects shared by the event models (see schemas/envelope.py).

Constraints mirror schemas/events/_common.json. Timestamps are aware UTC datetimes in Python
and serialise (mode="json") to the wire form 2026-11-27T02:11:58.123Z.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from schemas.registry import format_timestamp, parse_timestamp

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$"
)
_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)


def _to_utc_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware (UTC)")
        return parse_timestamp(value.isoformat())
    if isinstance(value, str) and _TIMESTAMP_RE.match(value):
        return parse_timestamp(value)
    raise ValueError(
        "timestamp must be UTC ISO-8601 with milliseconds and Z, e.g. 2026-11-27T02:11:58.123Z"
    )


def whole_number(value: Any) -> Any:
    """An integral float (``2.0``) as the int it is; anything else unchanged, for the int check.

    JSON has one number type: ``2.0`` is the integer 2 to JSON Schema ("type": "integer"), and
    to pandas, which reads an integer column with a missing value as floats. So integer
    fields take it; a string or a bool is still refused by the strict int check after this.

    Raises:
        PydanticCustomError: a float with a fraction (``2.5``), or not finite.
    """
    if type(value) is float:
        if value.is_integer():
            return int(value)
        raise PydanticCustomError(
            "int_from_float",
            "Input should be a whole number (2 or 2.0), not {value}",
            {"value": value},
        )
    return value


#: Put last in an int's ``Annotated``, after its limits: it runs before them, and the
#: limits stay JSON Schema's minimum and maximum.
WHOLE_NUMBER = BeforeValidator(whole_number)
#: An int that also accepts integral floats (2.0); the strict models' integer type.
Whole = Annotated[int, WHOLE_NUMBER]
NonNegativeInt = Annotated[int, Field(ge=0), WHOLE_NUMBER]

Timestamp = Annotated[
    datetime,
    BeforeValidator(_to_utc_datetime),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
Uuid = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
ExperimentId = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
ModelVersion = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+:-]*$")
]
PredictorId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Etag = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Id200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Counter = NonNegativeInt
Generation = NonNegativeInt
Location = Annotated[str, StringConstraints(min_length=1, max_length=200)]
TotalSqft = Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
#: A true price as feedback: finite, 1 to 10,000 lakhs (the data's prices run 8 to 3,600).
PriceLakhs = Annotated[float, Field(ge=1, le=10_000, allow_inf_nan=False)]
Bath = Annotated[int, Field(ge=0, le=50), WHOLE_NUMBER]
Bhk = Annotated[int, Field(ge=1, le=50), WHOLE_NUMBER]

Variant = Literal["prod", "candidate"]
ServingSlot = Literal["prod", "candidate"]
Status = Literal["ok", "error"]
ActorKind = Literal["policy", "operator", "trainer", "replay", "recovery"]


class Contract(BaseModel):
    """Base of every model: strict, immutable, no unknown fields."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


# --------------------------------------------------------------------------- nested objects


class Features(Contract):
    location: Location
    total_sqft: TotalSqft
    bath: Bath
    bhk: Bhk


class ReplyTo(Contract):
    topic: Annotated[str, StringConstraints(min_length=1, max_length=249)]
    partition: NonNegativeInt


class Timings(Contract):
    queued_ms: NonNegative
    predict_ms: NonNegative
    batch_size: Annotated[int, Field(ge=1), WHOLE_NUMBER]


class ErrorInfo(Contract):
    code: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    message: Annotated[str, StringConstraints(max_length=2000)]
    field: Annotated[str, StringConstraints(max_length=200)] | None


class Actor(Contract):
    kind: ActorKind
    name: Id200


class Slots(Contract):
    best: ModelVersion | None
    candidate: ModelVersion | None
    previous_best: ModelVersion | None
    generation: Generation
