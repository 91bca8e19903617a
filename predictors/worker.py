"""The predictor role: answer ``predict.request``s of one slot on their reply address.

A request past its deadline is skipped (``unexpired``): its client has had its 504.
"""

from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from plumbing.batch_buffer import Batch
from plumbing.batch_writer import Accepted
from plumbing.errors import MessageRejectedError
from plumbing.event_ids import new_event_ids
from predictors.inference import BatchPrediction, Outcome, predict_batch
from predictors.messages import ReplyAddresses, decode_predict_request
from predictors.metrics import PredictorMetrics
from predictors.model_slot import ModelSlot
from predictors.replies import build_reply, check_batch, encode
from pricing.features import FeatureRow
from schemas.registry import utc_now
from schemas.serving_events import PredictReply, PredictRequest

MODEL_UNAVAILABLE = "model_unavailable"


def unexpired(requests: list[PredictRequest], now: datetime) -> list[PredictRequest]:
    """The requests whose deadline has not passed.

    Past its deadline the gateway has already answered 504 and nobody waits for the
    reply; predicting it anyway costs the requests behind it their deadlines too, so an
    overload (or a backlog after a restart) would never drain. ClickHouse shows a request
    with no reply past its deadline as timed out, as its client saw it.
    """
    return [r for r in requests if r.deadline_at > now]


def feature_row(request: PredictRequest) -> FeatureRow:
    f = request.features
    return FeatureRow(f.location, f.total_sqft, f.bath, f.bhk)


class PredictHandler:
    """Decodes requests for one slot, predicts each batch in one call, replies to each."""

    def __init__(
        self,
        *,
        slot: ModelSlot,
        producer: KafkaProducer,
        predictor_id: str,
        reply_addresses: ReplyAddresses,
        metrics: PredictorMetrics,
    ) -> None:
        self.name = predictor_id
        self._slot = slot
        self._producer = producer
        self._reply_addresses = reply_addresses
        self._metrics = metrics

    def ready(self) -> bool:
        return self._slot.live is not None

    def decode(self, records: list[ConsumerRecord]) -> list[PredictRequest | MessageRejectedError]:
        return [self._decode(record) for record in records]

    def _decode(self, record: ConsumerRecord) -> PredictRequest | MessageRejectedError:
        try:
            return decode_predict_request(
                record.value, slot=self._slot.slot, reply_addresses=self._reply_addresses
            )
        except MessageRejectedError as error:
            return error

    def write(self, batch: Batch[Accepted[PredictRequest]]) -> list[Any]:
        started_at = datetime.now(UTC)
        requests = unexpired([a.item for a in batch.items], started_at)
        self._metrics.error("expired", len(batch.items) - len(requests))
        if not requests:
            return []
        model = self._slot.live  # read once: a reload between batches cannot split this one
        if model is None:
            outcome = Outcome.failed(MODEL_UNAVAILABLE, f"no model in the {self._slot.slot} slot")
            prediction = BatchPrediction([outcome] * len(requests), 0.0, 0)
        else:
            prediction = predict_batch(model, [feature_row(r) for r in requests])
            self._metrics.predicted(
                self._slot.slot, rows=len(requests), seconds=prediction.predict_ms / 1000
            )
        for outcome in prediction.outcomes:
            if outcome.error is not None:
                self._metrics.error(outcome.error["code"])
        occurred_at = utc_now()
        replies = [
            build_reply(
                request,
                outcome,
                slot=self._slot.slot,
                model_version=model.version if model else None,
                predictor_id=self.name,
                predict_ms=prediction.predict_ms,
                batch_size=len(requests),
                batch_started_at=started_at,
                occurred_at=occurred_at,
                event_id=event_id,
            )
            for request, outcome, event_id in zip(
                requests, prediction.outcomes, new_event_ids(len(requests)), strict=True
            )
        ]
        check_batch(PredictReply, replies)
        send = self._producer.send
        return [
            send(
                request.reply_to.topic,
                partition=request.reply_to.partition,
                key=request.request_id.encode(),
                value=encode(reply),
            )
            for request, reply in zip(requests, replies, strict=True)
        ]
