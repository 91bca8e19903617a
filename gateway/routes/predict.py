"""``POST /v1/predict``: price one listing through Kafka."""

from fastapi import APIRouter

from gateway.deps import GatewayDep, HeaderKeyDep
from gateway.schemas import ERRORS, PredictIn, PredictOut
from plumbing.features import FeatureRow

router = APIRouter(prefix="/v1", tags=["predict"])


@router.post("/predict", response_model=PredictOut, responses=ERRORS)
async def predict(body: PredictIn, gateway: GatewayDep, header_key: HeaderKeyDep) -> PredictOut:
    """Price a listing. The split key comes from ``key`` or the X-Split-Key header.

    The same key always gets the same variant within an experiment; without a key
    the variant is drawn at random. Errors: 422 invalid or out-of-domain input (the
    body names the field and the valid range or the nearest known locations), 503
    Kafka unreachable or no model, 504 no reply within the deadline.
    """
    row = FeatureRow(body.location, body.total_sqft, body.bath, body.bhk)
    key = body.key if body.key is not None else header_key
    prediction = await gateway.predictions.predict(row, key=key, source="http")
    return PredictOut(
        request_id=prediction.request_id,
        price_lakhs=prediction.price_lakhs,
        variant=prediction.variant,
        model_version=prediction.model_version,
        experiment_id=prediction.experiment_id,
    )
