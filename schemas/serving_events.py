"""The request path's events: predict requests and replies, batch scoring, feedback."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, StringConstraints, model_validator

from schemas.envelope import Event
from schemas.fields import (
    Bath,
    Bhk,
    Contract,
    ErrorInfo,
    ExperimentId,
    Features,
    Finite,
    Id200,
    Location,
    ModelVersion,
    PredictorId,
    PriceLakhs,
    ReplyTo,
    ServingSlot,
    Status,
    Timestamp,
    Timings,
    TotalSqft,
    Uuid,
    Variant,
    whole_number,
)


def _check_slot_follows_variant(shadow: bool, variant: str, slot: str) -> None:
    if not shadow and slot != variant:
        raise ValueError("slot must equal variant unless shadow is true")


def _check_outcome(
    status: str, price: float | None, error: ErrorInfo | None, version: str | None
) -> None:
    if status == "ok" and (price is None or error is not None or version is None):
        raise ValueError("status ok needs price_lakhs and model_version, and error null")
    if status == "error" and (price is not None or error is None):
        raise ValueError("status error needs error, and price_lakhs null")


class PredictRequest(Event):
    event_type: Literal["predict.request"]
    request_id: Uuid
    experiment_id: ExperimentId
    variant: Variant
    assignment: Literal["hashed", "random"]
    split_key: Id200 | None
    slot: ServingSlot
    shadow: bool
    source: Literal["http", "legacy_api", "score"]
    features: Features
    reply_to: ReplyTo
    deadline_at: Timestamp

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.assignment == "hashed" and self.split_key is None:
            raise ValueError("assignment hashed needs a split_key")
        _check_slot_follows_variant(self.shadow, self.variant, self.slot)
        return self


class PredictReply(Event):
    event_type: Literal["predict.reply"]
    request_id: Uuid
    experiment_id: ExperimentId
    variant: Variant
    slot: ServingSlot
    shadow: bool
    model_version: ModelVersion | None
    status: Status
    price_lakhs: Finite | None
    error: ErrorInfo | None
    predictor_id: PredictorId
    timings: Timings

    @model_validator(mode="after")
    def _rules(self) -> Self:
        _check_outcome(self.status, self.price_lakhs, self.error, self.model_version)
        _check_slot_follows_variant(self.shadow, self.variant, self.slot)
        return self


class ScoreRequest(Contract):
    """Written by any Kafka producer: only id and the features are required."""

    event_id: Uuid | None = None
    event_type: Literal["score.request"] | None = None
    schema_version: Annotated[Literal[1], BeforeValidator(whole_number)] | None = None
    occurred_at: Timestamp | None = None
    id: Id200
    key: Id200 | None = None
    location: Location
    total_sqft: TotalSqft
    bath: Bath
    bhk: Bhk


class ScoreResult(Event):
    event_type: Literal["score.result"]
    id: Id200
    request_id: Uuid
    experiment_id: ExperimentId
    variant: Variant
    model_version: ModelVersion | None
    status: Status
    price_lakhs: Finite | None
    error: ErrorInfo | None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        _check_outcome(self.status, self.price_lakhs, self.error, self.model_version)
        return self


class Feedback(Event):
    event_type: Literal["feedback"]
    request_id: Uuid
    actual_price_lakhs: PriceLakhs | None
    source: Literal["http", "legacy_api", "kafka"]
    feedback_type: Literal["actual_price", "accurate", "too_high", "too_low"] | None
    note: Annotated[str, StringConstraints(max_length=2000)] | None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.feedback_type in ("actual_price", None) and self.actual_price_lakhs is None:
            raise ValueError("actual_price_lakhs is required when feedback_type is actual_price")
        return self
