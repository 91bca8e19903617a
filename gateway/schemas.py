"""HTTP request and response bodies (the HTTP contract; events live in schemas/)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from analysis.thresholds import SRM_ALPHA
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


class VariantStatsOut(BaseModel):
    """One variant of the running experiment (v_variant_summary)."""

    variant: str
    model_versions: str
    requests: int
    errors: int
    error_rate: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    feedback: int
    mae: float | None
    mae_low: float | None = Field(description="Lower end of the MAE's 95 % interval.")
    mae_high: float | None = Field(description="Upper end of the MAE's 95 % interval.")


class MinuteOut(BaseModel):
    """Served requests of one variant in one minute (v_served_requests)."""

    minute: str
    variant: str
    requests: int
    latency_ms_p50: float | None
    latency_ms_p95: float | None


class SrmOut(BaseModel):
    """The sample-ratio-mismatch test of the running experiment (v_srm)."""

    prod_requests: int
    candidate_requests: int
    expected_candidate_share: float
    observed_candidate_share: float | None
    p_value: float | None
    mismatch: bool = Field(
        description=f"p < {SRM_ALPHA:g}: the split is broken; decisions are blocked."
    )


class DriftOut(BaseModel):
    """Population stability index of one feature for one model version (v_drift_psi)."""

    variant: str
    model_version: str
    feature: str
    requests: int
    psi: float
    level: Literal["stable", "moderate", "large"]


class DecisionOut(BaseModel):
    """One promoter ledger record, as the timeline shows it."""

    sequence: int
    occurred_at: str
    action: str
    actor: str
    reasons: list[str]
    evidence: str = Field(
        "",
        description="The MAEs the decision compared (on the same requests when paired), "
        "then their difference and its interval; empty when it compared none.",
    )
    best: str | None
    candidate: str | None


class ChartsOut(BaseModel):
    """Inline SVG charts of the numbers above (no scripts, no external resources)."""

    requests: str
    latency: str
    mae: str


class DashboardOut(BaseModel):
    generated_at: str
    experiment: ExperimentOut
    variants: list[VariantStatsOut]
    mae_interval: str = Field(description="How the MAE interval is computed.")
    minutes: list[MinuteOut]
    srm: SrmOut | None
    drift: list[DriftOut]
    decisions: list[DecisionOut] = Field(description="Promoter decisions, newest first.")
    charts: ChartsOut
    unavailable: dict[str, str] = Field(
        description="What could not be read (clickhouse, ledger) and why; empty when all was."
    )


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
        404: "Feedback for a request id no gateway served",
        409: "The promoter did not act: the slots moved on, or nothing to act on",
        413: "Body larger than max_body_bytes",
        422: "Invalid or out-of-domain input",
        503: "Kafka unreachable or no model serving",
        504: "No reply before the deadline",
    }.items()
}

#: The old clients' API answers input errors with 400, as the old Flask server did.
LEGACY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid input (the old API's status for it)"},
    **ERRORS,
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
