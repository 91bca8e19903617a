"""``POST /v1/predict``: price one listing through Kafka."""

from fastapi import APIRouter, Request, Response

from gateway.bodies import documented_body, json_response, predict_body, split_key_header
from gateway.deps import running_gateway
from gateway.schemas import ERRORS, PredictIn, PredictOut
from pricing.features import FeatureRow

router = APIRouter(prefix="/v1", tags=["predict"])


@router.post(
    "/predict",
    response_model=PredictOut,
    responses=ERRORS,
    openapi_extra=documented_body(PredictIn, "application/json"),
)
async def predict(request: Request) -> Response:
    """Price a listing. The split key comes from ``key`` or the X-Split-Key header.

    The same key always gets the same variant within an experiment; without a key
    the variant is drawn at random. Errors: 422 invalid or out-of-domain input (the
    body names the field and the valid range or the nearest known locations), 503
    Kafka unreachable or no model, 504 no reply within the deadline.
    """
    gateway = running_gateway(request)
    body = await predict_body(request)
    key = body.key if body.key is not None else split_key_header(request)
    row = FeatureRow(body.location, body.total_sqft, body.bath, body.bhk)
    prediction = await gateway.predictions.predict(row, key=key, source="http")
    return json_response(
        {
            "request_id": prediction.request_id,
            "price_lakhs": prediction.price_lakhs,
            "variant": prediction.variant,
            "model_version": prediction.model_version,
            "experiment_id": prediction.experiment_id,
        }
    )
