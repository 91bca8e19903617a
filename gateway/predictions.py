"""One prediction: check the input, assign the variant, send it to Kafka, await the reply."""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from gateway.errors import (
    GatewayError,
    KafkaUnavailableError,
    ModelUnavailableError,
    OutOfDomainError,
    PredictorFailedError,
    ReplyTimeoutError,
)
from gateway.kafka_link import KafkaLink
from gateway.metrics import NO_VARIANT, GatewayMetrics
from gateway.replies import PendingReplies
from gateway.request_events import predict_request_event, shadow_copy, utc_now
from gateway.routing import Routing, RoutingCache
from gateway.settings import GatewaySettings
from plumbing.request_ids import mint_request_id
from pricing.features import FeatureRow, normalise_location
from pricing.split import Assignment, assign_variant, is_shadowed
from schemas.serving_events import PredictReply

log = logging.getLogger(__name__)

Source = Literal["http", "legacy_api"]
API_OF_SOURCE = {"http": "v1", "legacy_api": "legacy"}


@dataclass(frozen=True)
class Prediction:
    request_id: str
    price_lakhs: float
    variant: Literal["prod", "candidate"]
    model_version: str
    experiment_id: str
    latency_s: float


def check_domain(routing: Routing, row: FeatureRow) -> FeatureRow:
    """The row with its location normalised, if prod's model knows it.

    A location seen in training but grouped as ``other`` is known (the predictor
    maps it to the baseline column); only a name never seen is refused.

    Raises:
        ModelUnavailableError: no prod model, or its domain is unknown.
        OutOfDomainError: a field is outside the trained domain; ``allowed`` holds
            the range, or the nearest known locations.
    """
    if routing.domain is None:
        raise ModelUnavailableError(routing.reason or "no production model")
    normalised = row._replace(location=normalise_location(row.location))
    violation = routing.domain.violation(normalised)
    if violation is not None:
        raise OutOfDomainError(violation.message, field=violation.field, allowed=violation.allowed)
    return normalised


class PredictionService:
    """Answers predictions through Kafka; one per gateway instance."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        routing: RoutingCache,
        link: KafkaLink,
        pending: PendingReplies,
        metrics: GatewayMetrics,
    ) -> None:
        self._settings = settings
        self._routing = routing
        self._link = link
        self._pending = pending
        self._metrics = metrics
        self._reply_to = {
            "topic": settings.topic("predict_replies").name,
            "partition": settings.gateway_reply_partition,
        }
        self._topics = {
            "prod": settings.topic("predict_requests_prod").name,
            "candidate": settings.topic("predict_requests_candidate").name,
        }

    async def predict(self, row: FeatureRow, *, key: str | None, source: Source) -> Prediction:
        """Predict one row; records the outcome in the metrics.

        Raises:
            GatewayError: 422 out of domain, 503 Kafka or model unavailable,
                504 no reply in time, 502 the predictor failed.
        """
        started = time.perf_counter()
        api = API_OF_SOURCE[source]
        variant = NO_VARIANT
        metrics = self._metrics
        metrics.in_flight.inc()
        try:
            routing = self._routing.current
            row = check_domain(routing, row)
            request_id = mint_request_id(self._settings)
            assignment = assign_variant(
                experiment_id=routing.experiment_id,
                key=key,
                request_id=request_id,
                candidate_share=routing.candidate_share,
                candidate_available=routing.candidate_available,
            )
            variant = assignment.variant
            reply = await self._round_trip(request_id, row, assignment, routing, key, source)
            prediction = self._outcome(reply, started)
        except GatewayError as error:
            seconds = time.perf_counter() - started
            metrics.failed(
                api, variant, status=error.status, error_type=error.code, seconds=seconds
            )
            if isinstance(error, ReplyTimeoutError):
                metrics.timeouts.labels(variant).inc()
            raise
        except Exception:
            seconds = time.perf_counter() - started
            metrics.failed(api, variant, status=500, error_type="internal", seconds=seconds)
            raise
        finally:
            metrics.in_flight.dec()
        metrics.served(api, variant, time.perf_counter() - started)
        return prediction

    async def _round_trip(
        self,
        request_id: str,
        row: FeatureRow,
        assignment: Assignment,
        routing: Routing,
        key: str | None,
        source: Source,
    ) -> PredictReply:
        timeout_s = self._settings.reply_timeout_s
        request = predict_request_event(
            request_id=request_id,
            experiment_id=routing.experiment_id,
            assignment=assignment,
            split_key=key,
            source=source,
            row=row,
            reply_to=self._reply_to,
            now=utc_now(),
            timeout_s=timeout_s,
        )
        future = self._pending.register(request_id)  # before sending: replies can be fast
        # One deadline for the send and the reply: a send that waited for a new leader's
        # metadata must not push the answer past the deadline the client was promised.
        deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            delivery = await self._link.send(
                self._topics[assignment.variant], request, key=request_id
            )
            delivery.add_done_callback(lambda done: self._delivered(request_id, done))
            if assignment.variant == "prod" and routing.candidate_available:
                await self._mirror(request, routing)
            async with asyncio.timeout_at(deadline):
                return await future
        except TimeoutError as error:
            raise ReplyTimeoutError(
                f"no reply from the {assignment.variant} predictors within {timeout_s} s"
            ) from error
        finally:
            self._pending.discard(request_id)

    async def _mirror(self, request: dict[str, Any], routing: Routing) -> None:
        """Send a shadow copy to the candidate: its reply is recorded, never returned."""
        share = self._settings.shadow_share
        if not share or not is_shadowed(routing.experiment_id, request["request_id"], share):
            return
        try:
            await self._link.send(
                self._topics["candidate"], shadow_copy(request), key=request["request_id"]
            )
        except GatewayError as error:  # the client's answer does not depend on the shadow
            log.warning("shadow copy of %s not sent: %s", request["request_id"], error)

    def _delivered(self, request_id: str, delivery: "asyncio.Future[object]") -> None:
        """A request Kafka did not take fails its waiter at once (503), not at the deadline."""
        if delivery.cancelled():
            return
        error = delivery.exception()
        if error is not None:
            self._link.mark_unreachable(error)
            self._pending.fail(request_id, KafkaUnavailableError(f"kafka did not take it: {error}"))

    def _outcome(self, reply: PredictReply, started: float) -> Prediction:
        if reply.status == "ok" and reply.price_lakhs is not None and reply.model_version:
            return Prediction(
                request_id=reply.request_id,
                price_lakhs=reply.price_lakhs,
                variant=reply.variant,
                model_version=reply.model_version,
                experiment_id=reply.experiment_id,
                latency_s=time.perf_counter() - started,
            )
        error = reply.error
        code = error.code if error else "unknown"
        message = error.message if error else "the predictor answered with an error"
        field = error.field if error else None
        if code == "out_of_domain":  # the candidate's domain may differ from prod's
            raise OutOfDomainError(f"{reply.slot} model: {message}", field=field)
        if code in ("model_unavailable", "no_model"):
            raise ModelUnavailableError(f"{reply.slot} predictor: {message}", field=field)
        raise PredictorFailedError(f"{reply.slot} predictor: {code}: {message}", field=field)
