"""The old API's request and response bodies (``/api/...``), as the old Flask server had them."""

from typing import Any, Literal

from pydantic import BaseModel

from gateway.schemas import ERRORS, ErrorOut, Location, Note, RequestId, TotalSqft, Variant
from schemas.fields import Bath, Bhk, PriceLakhs


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


#: The old clients' API answers input errors with 400, as the old Flask server did.
LEGACY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid input (the old API's status for it)"},
    **ERRORS,
}
