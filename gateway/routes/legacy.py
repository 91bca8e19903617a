"""The old clients' API under ``/api``, unchanged for them.

Form-encoded prediction, JSON feedback, and the old health and metrics answers.
Input errors answer 400 (as the old server did) with the usual JSON error body.
"""

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from gateway.bodies import (
    FORM_URLENCODED,
    documented_body,
    json_response,
    legacy_predict_form,
    split_key_header,
)
from gateway.deps import GatewayDep, running_gateway
from gateway.errors import BadRequestError
from gateway.legacy_schemas import (
    LEGACY_ERRORS,
    LegacyFeedbackIn,
    LegacyFeedbackOut,
    LegacyHealthOut,
    LegacyLocationsOut,
    LegacyMetricsOut,
    LegacyPredictForm,
    LegacyPredictOut,
)
from gateway.routes.feedback import publish_feedback
from pricing.features import FeatureRow
from schemas.serving_events import Feedback

router = APIRouter(prefix="/api", tags=["legacy"])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@router.get("/get_location_names", response_model=LegacyLocationsOut)
async def get_location_names(gateway: GatewayDep) -> LegacyLocationsOut:
    """Known locations, as the old ``{"locations": [...]}``."""
    return LegacyLocationsOut(locations=list(gateway.routing.current.locations))


@router.post(
    "/predict_home_price",
    response_model=LegacyPredictOut,
    responses=LEGACY_ERRORS,
    openapi_extra=documented_body(LegacyPredictForm, FORM_URLENCODED),
)
async def predict_home_price(request: Request) -> Response:
    """Form fields ``total_sqft, location, bhk, bath``; the price in lakhs."""
    gateway = running_gateway(request)
    form = await legacy_predict_form(request)
    row = FeatureRow(form.location, form.total_sqft, form.bath, form.bhk)
    key = split_key_header(request)
    prediction = await gateway.predictions.predict(row, key=key, source="legacy_api")
    return json_response(
        {
            "estimated_price": round(prediction.price_lakhs, 2),
            "prediction_id": prediction.request_id,
            "response_time_ms": round(prediction.latency_s * 1000, 2),
            "variant": prediction.variant,
        }
    )


@router.post("/feedback", response_model=LegacyFeedbackOut, responses=LEGACY_ERRORS)
async def feedback(body: LegacyFeedbackIn, gateway: GatewayDep) -> LegacyFeedbackOut:
    """``{prediction_id, feedback_type, feedback_value?, feedback_text?}``; 200 when recorded.

    ``feedback_type=actual_price`` needs the true price (lakhs) in ``feedback_value``.
    """
    price = body.feedback_value if body.feedback_type == "actual_price" else None
    if body.feedback_type == "actual_price" and price is None:
        raise BadRequestError(
            "feedback_value is required when feedback_type is actual_price",
            field="feedback_value",
        )
    event = Feedback.create(
        request_id=body.prediction_id,
        actual_price_lakhs=price,
        source="legacy_api",
        feedback_type=body.feedback_type,
        note=body.feedback_text,
    )
    await publish_feedback(gateway, event, api="legacy")
    return LegacyFeedbackOut(prediction_id=body.prediction_id, feedback_id=event.event_id)


@router.get("/health", response_model=LegacyHealthOut, responses={503: {"model": LegacyHealthOut}})
async def health(gateway: GatewayDep) -> JSONResponse:
    """``{status, timestamp, model_variant, system}``; 503 with status unhealthy."""
    reasons, checks = gateway.readiness()
    routing = gateway.routing.current
    body = LegacyHealthOut(
        status="unhealthy" if reasons else "healthy",
        timestamp=_now(),
        model_variant=routing.prod_version or "none",
        system={
            **checks,
            "reasons": reasons,
            "candidate_share": routing.candidate_share,
            "experiment_id": routing.experiment_id,
            "pending_requests": len(gateway.pending),
        },
    )
    return JSONResponse(body.model_dump(), status_code=503 if reasons else 200)


@router.get("/metrics", response_model=LegacyMetricsOut)
async def metrics(gateway: GatewayDep) -> LegacyMetricsOut:
    """Predictions and feedback answered by this instance since it started (all variants)."""
    return LegacyMetricsOut(
        variant="all",
        predictions=gateway.metrics.predictions_total,
        feedback=gateway.metrics.feedback_total,
        timestamp=_now(),
    )
