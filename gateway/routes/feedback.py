"""``POST /v1/feedback``: the true price of an earlier prediction, to the feedback topic.

Feedback must name a request a gateway served: its id carries a gateway's HMAC
(plumbing/request_ids.py), checked here with no lookup, so any gateway instance
accepts feedback for any other's requests, across restarts, even before the sink has
stored the prediction. Other ids get 404 naming the field.
"""

from fastapi import APIRouter, status

from gateway.deps import GatewayDep
from gateway.errors import NotFoundError
from gateway.lifespan import Gateway
from gateway.schemas import ERRORS, FeedbackIn, FeedbackOut
from plumbing.request_ids import for_settings
from schemas.serving_events import Feedback

router = APIRouter(prefix="/v1", tags=["feedback"])


async def publish_feedback(gateway: Gateway, event: Feedback, *, api: str) -> None:
    """Publish one feedback event and wait for Kafka's acknowledgement.

    Raises:
        NotFoundError: no gateway served a request with this id (404).
        KafkaUnavailableError: Kafka is unreachable or did not acknowledge it.
    """
    if not for_settings(gateway.settings).served(event.request_id):
        field = "prediction_id" if api == "legacy" else "request_id"
        raise NotFoundError(f"no prediction with this {field} was served", field=field)
    topic = gateway.settings.topic("feedback").name
    await gateway.link.send_and_wait(topic, event.model_dump(mode="json"), key=event.request_id)
    gateway.metrics.feedback_accepted(api, event.feedback_type or "actual_price")


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
