"""HTTP request and response bodies (the HTTP contract; events live in schemas/)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.fields import UUID_PATTERN, WHOLE_NUMBER, Bath, Bhk, PriceLakhs

# The same limits as schemas/events/_common.json, so nothing the gateway accepts is
# refused by the event contract later. Integer fields take integral floats (2.0, not
# 2.5), as the event contract does (schemas.fields.whole_number).
Location = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TotalSqft = Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
SplitKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RequestId = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
Note = Annotated[str, StringConstraints(max_length=2000)]
Variant = Literal["prod", "candidate"]

#: Header that may carry the split key instead of the body's ``key``.
SPLIT_KEY_HEADER = "X-Split-Key"


class Strict(BaseModel):
    """A JSON body: no type coercion ("3" is not 3; 2.0 is 2, as in JSON Schema), no
    unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class PredictIn(Strict):
    location: Location
    total_sqft: TotalSqft
    bath: Bath
    bhk: Bhk
    key: SplitKey | None = Field(
        None, description="Split key (e.g. a user id); the X-Split-Key header also works."
    )


class PredictOut(BaseModel):
    request_id: str
    price_lakhs: float
    variant: Variant
    model_version: str
    experiment_id: str


class FeedbackIn(Strict):
    request_id: RequestId
    actual_price_lakhs: PriceLakhs
    note: Note | None = None


class FeedbackOut(BaseModel):
    status: Literal["accepted"] = "accepted"
    event_id: str
    request_id: str


class SplitIn(Strict):
    candidate_share: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)] = "set through the admin API"
    operator: Annotated[str, Field(min_length=1, max_length=200)] = "admin"


class CommandIn(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    operator: Annotated[str, Field(min_length=1, max_length=200)] = "admin"
    expected_generation: Annotated[int, Field(ge=0), WHOLE_NUMBER] | None = None


class SlotsOut(BaseModel):
    best: str | None
    candidate: str | None
    previous_best: str | None
    generation: int
    holdback: str | None = Field(
        None,
        description="During the watch after a promotion: the previous best, serving the "
        "candidate slot's share beside the new best until the watch ends.",
    )


class CommandOut(BaseModel):
    command_id: str
    action: str
    outcome: str
    message: str
    ledger_sequence: int | None
    slots: SlotsOut


class ExperimentOut(BaseModel):
    experiment_id: str
    candidate_share: float
    share_source: Literal["settings", "s3"]
    candidate_available: bool
    versions: dict[str, str | None]
    slots: SlotsOut | None


class LocationsOut(BaseModel):
    locations: list[str]


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    ready: bool
    reasons: list[str]
    checks: dict[str, Any]


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None
    allowed: Any


class ErrorOut(BaseModel):
    error: ErrorDetail


#: Documented error answers, for the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        401: "Missing or wrong bearer token",
        404: "Feedback for a request id no gateway served",
        409: "The promoter did not act: the slots moved on, or nothing to act on",
        413: "Body larger than max_body_bytes",
        422: "Invalid or out-of-domain input",
        503: "Kafka unreachable or no model serving",
        504: "No reply before the deadline",
    }.items()
}
