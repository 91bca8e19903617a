"""HTTP request and response bodies (the HTTP contract; events live in schemas/)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.fields import UUID_PATTERN

# The same limits as schemas/events/_common.json, so nothing the gateway accepts is
# refused by the event contract later.
Location = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TotalSqft = Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
Bath = Annotated[int, Field(ge=0, le=50)]
Bhk = Annotated[int, Field(ge=1, le=50)]
SplitKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RequestId = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
PriceLakhs = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Note = Annotated[str, StringConstraints(max_length=2000)]
Variant = Literal["prod", "candidate"]


class Strict(BaseModel):
    """A JSON body: no type coercion ("3" is not 3), no unknown fields."""

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


class CommandIn(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    operator: Annotated[str, Field(min_length=1, max_length=200)] = "admin"
    expected_generation: Annotated[int, Field(ge=0)] | None = None


class SlotsOut(BaseModel):
    best: str | None
    candidate: str | None
    previous_best: str | None
    generation: int


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


# --------------------------------------------------------------------------- the old API


class LegacyPredictForm(BaseModel):
    """The old form fields; form values are text, so numbers are parsed from it."""

    total_sqft: TotalSqft
    location: Location
    bhk: Bhk
    bath: Bath


class LegacyPredictOut(BaseModel):
    estimated_price: float
    prediction_id: str
    response_time_ms: float
    variant: Variant


class LegacyFeedbackIn(BaseModel):
    prediction_id: RequestId
    feedback_type: Literal["actual_price", "accurate", "too_high", "too_low"]
    feedback_value: PriceLakhs | None = None
    feedback_text: Note | None = None


class LegacyFeedbackOut(BaseModel):
    status: Literal["recorded"] = "recorded"
    prediction_id: str
    feedback_id: str


class LegacyLocationsOut(BaseModel):
    locations: list[str]


class LegacyHealthOut(BaseModel):
    status: Literal["healthy", "unhealthy"]
    timestamp: str
    model_variant: str
    system: dict[str, Any]


class LegacyMetricsOut(BaseModel):
    variant: str
    predictions: int
    feedback: int
    timestamp: str


#: Documented error answers, for the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        401: "Missing or wrong bearer token",
        409: "The promoter did not act: the slots moved on, or nothing to act on",
        413: "Body larger than max_body_bytes",
        422: "Invalid or out-of-domain input",
        503: "Kafka unreachable or no model serving",
        504: "No reply before the deadline",
    }.items()
}


_LIMIT_KEYWORDS = (
    "type",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
)


def _field_limits(*models: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Each body field's type and limits (JSON Schema keywords), for error bodies."""
    limits: dict[str, dict[str, Any]] = {}
    for model in models:
        for name, prop in model.model_json_schema()["properties"].items():
            branches = prop.get("anyOf", [prop])
            chosen = next((b for b in branches if b.get("type") != "null"), prop)
            limits.setdefault(name, {k: chosen[k] for k in _LIMIT_KEYWORDS if k in chosen})
    return limits


#: What each request field accepts: the ``allowed`` of a validation error's body.
FIELD_LIMITS = _field_limits(PredictIn, FeedbackIn, SplitIn, LegacyPredictForm, LegacyFeedbackIn)
FIELD_LIMITS["X-Split-Key"] = FIELD_LIMITS["key"]
