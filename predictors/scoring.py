"""The batch-scorer role: score ``score.requests`` rows with both slots' models.

Each row gets its variant the gateway's way (``pricing.split.assign_variant``, the
experiment named after the loaded candidate; the row's key, or else its id, is
hashed), each variant's rows are predicted in one call, and one ``score.result``
per row goes to ``score.results``, keyed by the producer's id. The scorer picks the
partition itself from the key (``result_partition``: CRC-32, computed in C), because
kafka-python's default partitioner hashes each key in pure Python (murmur2).
"""

import zlib
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from plumbing.batch_buffer import Batch
from plumbing.batch_writer import Accepted
from plumbing.errors import MessageRejectedError
from plumbing.event_ids import new_event_ids
from predictors.errors import PredictorError
from predictors.inference import Outcome, predict_batch
from predictors.messages import decode_score_request
from predictors.metrics import PredictorMetrics
from predictors.model_slot import LiveModel, ModelSlot
from predictors.replies import build_score_result, check_batch, encode, score_request_id
from predictors.worker import MODEL_UNAVAILABLE
from pricing.features import FeatureRow
from pricing.split import Assignment, Variant, assign_variant, experiment_id_for
from schemas.registry import utc_now
from schemas.serving_events import ScoreRequest, ScoreResult


def result_partition(key: bytes, partitions: int) -> int:
    """The partition of the result keyed ``key``: the same key, the same partition."""
    return zlib.crc32(key) % partitions


def assign_rows(
    rows: Sequence[ScoreRequest],
    *,
    experiment_prefix: str,
    candidate_version: str | None,
    candidate_share: float,
) -> tuple[str, list[Assignment]]:
    """The experiment id and each row's assignment; no candidate sends every row to prod.

    A row with a ``key`` is hashed on it (sticky); one without is hashed on its id and
    marked random.
    """
    experiment_id = experiment_id_for(experiment_prefix, candidate_version)
    assignments = [
        assign_variant(
            experiment_id=experiment_id,
            key=row.key,
            request_id=row.id,
            candidate_share=candidate_share,
            candidate_available=candidate_version is not None,
        )
        for row in rows
    ]
    return experiment_id, assignments


class ScoreHandler:
    """Decodes score requests, predicts per variant in one call each, writes results."""

    def __init__(
        self,
        *,
        prod: ModelSlot,
        candidate: ModelSlot,
        producer: KafkaProducer,
        results_topic: str,
        experiment_prefix: str,
        candidate_share: float,
        scorer_id: str,
        metrics: PredictorMetrics,
    ) -> None:
        self.name = scorer_id
        self._slots: dict[Variant, ModelSlot] = {"prod": prod, "candidate": candidate}
        self._producer = producer
        self._results_topic = results_topic
        self._experiment_prefix = experiment_prefix
        self._candidate_share = candidate_share
        self._metrics = metrics

    def ready(self) -> bool:
        return self._slots["prod"].live is not None

    def decode(self, records: list[ConsumerRecord]) -> list[ScoreRequest | MessageRejectedError]:
        return [self._decode(record.value) for record in records]

    @staticmethod
    def _decode(value: bytes | None) -> ScoreRequest | MessageRejectedError:
        try:
            return decode_score_request(value)
        except MessageRejectedError as error:
            return error

    def write(self, batch: Batch[Accepted[ScoreRequest]]) -> list[Any]:
        accepted = batch.items
        rows = [a.item for a in accepted]
        models = {variant: slot.live for variant, slot in self._slots.items()}
        candidate = models["candidate"]
        experiment_id, assignments = assign_rows(
            rows,
            experiment_prefix=self._experiment_prefix,
            candidate_version=candidate.version if candidate else None,
            candidate_share=self._candidate_share,
        )
        outcomes = self._predict(rows, [a.variant for a in assignments], models)
        occurred_at = utc_now()
        results = []
        for entry, assignment, outcome, event_id in zip(
            accepted, assignments, outcomes, new_event_ids(len(rows)), strict=True
        ):
            model = models[assignment.variant]
            if outcome.error is not None:
                self._metrics.error(outcome.error["code"])
            record = entry.record
            results.append(
                build_score_result(
                    row_id=entry.item.id,
                    request_id=score_request_id(record.topic, record.partition, record.offset),
                    experiment_id=experiment_id,
                    variant=assignment.variant,
                    model_version=model.version if model else None,
                    outcome=outcome,
                    occurred_at=occurred_at,
                    event_id=event_id,
                )
            )
        check_batch(ScoreResult, results)
        partitions = len(self._producer.partitions_for(self._results_topic) or ())
        if not partitions:
            raise PredictorError(f"topic {self._results_topic} has no partitions")
        send, topic = self._producer.send, self._results_topic
        futures = []
        for row, result in zip(rows, results, strict=True):
            key = row.id.encode()
            futures.append(
                send(
                    topic,
                    key=key,
                    value=encode(result),
                    partition=result_partition(key, partitions),
                )
            )
        return futures

    def _predict(
        self,
        rows: list[ScoreRequest],
        variants: list[Variant],
        models: dict[Variant, LiveModel | None],
    ) -> list[Outcome]:
        outcomes: list[Outcome] = [Outcome.failed(MODEL_UNAVAILABLE, "no model loaded")] * len(rows)
        for variant, model in models.items():
            picked = [i for i, v in enumerate(variants) if v == variant]
            if not picked or model is None:
                continue
            features = [
                FeatureRow(rows[i].location, rows[i].total_sqft, rows[i].bath, rows[i].bhk)
                for i in picked
            ]
            prediction = predict_batch(model, features)
            self._metrics.predicted(variant, rows=len(picked), seconds=prediction.predict_ms / 1000)
            for i, outcome in zip(picked, prediction.outcomes, strict=True):
                outcomes[i] = outcome
        return outcomes
