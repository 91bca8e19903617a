"""``POST /v1/feedback``: the true price of an earlier prediction, to the feedback topic."""

from fastapi import APIRouter, status

from gateway.deps import GatewayDep
from gateway.lifespan import Gateway
from gateway.schemas import ERRORS, FeedbackIn, FeedbackOut
from schemas.models import Feedback

router = APIRouter(prefix="/v1", tags=["feedback"])


async def publish_feedback(gateway: Gateway, event: Feedback, *, api: str) -> None:
    """Publish one feedback event and wait for Kafka's acknowledgement.

    Raises:
        KafkaUnavailableError: Kafka is unreachable or did not acknowledge it.
    """
    topic = gateway.settings.topic("feedback").name
    await gateway.link.send_and_wait(topic, event.model_dump(mode="json"), key=event.request_id)
    gateway.metrics.feedback.labels(api=api).inc()
    gateway.metrics.feedback_total += 1


@router.post(
    "/feedback",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=FeedbackOut,
    responses=ERRORS,
)
async def feedback(body: FeedbackIn, gateway: GatewayDep) -> FeedbackOut:
    """Record the actual price of the prediction ``request_id``; 202 once Kafka has it."""
    event = Feedback.create(
        request_id=body.request_id,
        actual_price_lakhs=body.actual_price_lakhs,
        source="http",
        feedback_type="actual_price",
        note=body.note,
    )
    await publish_feedback(gateway, event, api="v1")
    return FeedbackOut(event_id=event.event_id, request_id=event.request_id)
