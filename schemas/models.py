"""Typed pydantic models of every event; they mirror schemas/events/*.json (tests prove it).

Models are strict (no "3" -> 3 coercion), frozen, and forbid unknown fields; integer fields
take integral floats (2.0, not 2.5), as JSON Schema's "integer" does. Every property is
required, nullable ones included (send null, never omit), except in ScoreRequest, which any
Kafka producer may write. Timestamps are aware UTC datetimes in Python and serialise (mode="json")
to the wire form 2026-11-27T02:11:58.123Z. Build new events with `Model.create(**fields)`, which
fills the envelope (event_id, event_type, schema_version, occurred_at).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, get_args

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, model_validator

from schemas.fields import (
    Actor,
    Bath,
    Bhk,
    Contract,
    Counter,
    ErrorInfo,
    Etag,
    ExperimentId,
    Features,
    Finite,
    Generation,
    Id200,
    Location,
    ModelVersion,
    NonNegative,
    NonNegativeInt,
    PredictorId,
    PriceLakhs,
    Reason,
    ReplyTo,
    ServingSlot,
    Slots,
    Status,
    Timestamp,
    Timings,
    TotalSqft,
    Uuid,
    Variant,
    whole_number,
)
from schemas.registry import new_event_envelope

# --------------------------------------------------------------------------- envelope


class Event(Contract):
    """The envelope every Splitstream-produced event carries."""

    event_id: Uuid
    event_type: str
    schema_version: Annotated[Literal[1], BeforeValidator(whole_number)]
    occurred_at: Timestamp

    @classmethod
    def event_type_name(cls) -> str:
        return str(get_args(cls.model_fields["event_type"].annotation)[0])

    @classmethod
    def create(cls, **fields: Any) -> Self:
        """A new event: the envelope is generated, `fields` give the rest (and may override it)."""
        return cls.model_validate({**new_event_envelope(cls.event_type_name()), **fields})


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


# --------------------------------------------------------------------------- requests and replies


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


# --------------------------------------------------------------------------- model.events


Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class NumericDistribution(Contract):
    """Bins ``[edges[i], edges[i+1])``, the last one closed, and the training share of each."""

    edges: Annotated[list[Finite], Field(min_length=2, max_length=101)]
    shares: Annotated[list[Share], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if len(self.shares) != len(self.edges) - 1:
            raise ValueError("shares must have one item fewer than edges")
        if any(b < a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("edges must be ascending")
        return self


class CategoryDistribution(Contract):
    """Categories (the last one, other, holds the rest) and the training share of each."""

    categories: Annotated[list[Location], Field(min_length=1, max_length=200)]
    shares: Annotated[list[Share], Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if len(self.shares) != len(self.categories):
            raise ValueError("shares must have one item per category")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("categories must be unique")
        return self


class TrainingDistribution(Contract):
    """What a model was trained on: the reference of the drift (PSI) view."""

    total_sqft: NumericDistribution
    bath: NumericDistribution
    bhk: NumericDistribution
    location: CategoryDistribution


class ModelCandidatePublished(Event):
    event_type: Literal["model.candidate_published"]
    model_version: ModelVersion
    slot: Literal["best", "candidate", "queued"]
    mlflow_run_id: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    ]
    manifest_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    metrics: dict[str, Finite]
    training_distribution: TrainingDistribution


class ModelReload(Event):
    event_type: Literal["model.reload"]
    generation: Generation
    best: ModelVersion
    candidate: ModelVersion | None
    reason: Reason


class ModelReloaded(Event):
    event_type: Literal["model.reloaded"]
    predictor_id: PredictorId
    slot: ServingSlot
    model_version: ModelVersion | None
    generation: Generation
    load_ms: NonNegative
    ok: bool
    error: ErrorInfo | None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.ok != (self.error is None):
            raise ValueError("error must be null exactly when ok is true")
        return self


class ModelPromoted(Event):
    event_type: Literal["model.promoted"]
    model_version: ModelVersion
    previous_best: ModelVersion | None
    generation: Generation
    actor: Actor


class ModelRejected(Event):
    event_type: Literal["model.rejected"]
    model_version: ModelVersion
    generation: Generation
    actor: Actor
    reasons: list[Reason]


class ModelRolledBack(Event):
    event_type: Literal["model.rolled_back"]
    model_version: ModelVersion
    from_version: ModelVersion
    generation: Generation
    actor: Actor
    reasons: list[Reason]


class ExperimentTrigger(Event):
    event_type: Literal["experiment.trigger"]
    experiment_id: ExperimentId
    variant: Variant
    window_start: Timestamp
    window_end: Timestamp
    requests: Counter
    errors: Counter
    latency_ms_sum: NonNegative
    abs_error_sum: NonNegative
    feedback_count: Counter
    rule: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ExperimentAlert(Event):
    event_type: Literal["experiment.alert"]
    experiment_id: ExperimentId
    kind: Literal["srm", "guardrail", "watch", "evidence", "drift"]
    message: Reason
    p_value: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None


PromoterAction = Literal["promote", "reject", "rollback", "pause", "resume", "split"]


class PromoterCommand(Event):
    """An operator's command. Its body names no actor kind: only operators' principals can
    write the commands topic, so every command read there is an operator's (``actor``)."""

    event_type: Literal["promoter.command"]
    command_id: Uuid
    action: PromoterAction
    operator: Id200
    expected_generation: Generation | None
    candidate_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None
    reason: Reason

    @property
    def actor(self) -> Actor:
        """Who decides: kind operator (known from the topic), named as the operator asked."""
        return Actor(kind="operator", name=self.operator)


class PromoterCommandResult(Event):
    event_type: Literal["promoter.command_result"]
    command_id: Uuid
    action: PromoterAction
    outcome: Literal["done", "conflict", "refused"]
    message: Reason
    ledger_sequence: NonNegativeInt | None
    slots: Slots


# --------------------------------------------------------------------------- ledger, dead letters


class LedgerRecord(Event):
    event_type: Literal["ledger.record"]
    sequence: NonNegativeInt
    experiment_id: ExperimentId | None
    action: Literal[
        "bootstrap",
        "publish",
        "promote",
        "reject",
        "wait",
        "rollback",
        "pause",
        "resume",
        "restore",
        "split",
        "ramp",
        "end_watch",
    ]
    actor: Actor
    reasons: list[Reason]
    inputs: dict[str, Any]
    statistics: dict[str, Any]
    thresholds: dict[str, Any]
    slots_before: Slots
    slots_after: Slots
    etag_before: Etag | None
    etag_after: Etag | None
    missing_acks: list[PredictorId]


class DeadletterRecord(Event):
    event_type: Literal["deadletter.record"]
    source_topic: Annotated[str, StringConstraints(min_length=1, max_length=249)]
    source_partition: NonNegativeInt
    source_offset: NonNegativeInt
    consumer: PredictorId
    reason: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    error_type: Literal["decode", "schema", "domain", "missing_header", "too_large", "internal"]
    payload: Annotated[str, StringConstraints(max_length=87384)]
    payload_encoding: Literal["utf-8", "base64"]
    payload_truncated: bool
    payload_bytes: NonNegativeInt
    headers: dict[str, str]


EVENT_MODELS: dict[str, type[BaseModel]] = {
    "predict.request": PredictRequest,
    "predict.reply": PredictReply,
    "score.request": ScoreRequest,
    "score.result": ScoreResult,
    "feedback": Feedback,
    "model.candidate_published": ModelCandidatePublished,
    "model.reload": ModelReload,
    "model.reloaded": ModelReloaded,
    "model.promoted": ModelPromoted,
    "model.rejected": ModelRejected,
    "model.rolled_back": ModelRolledBack,
    "experiment.trigger": ExperimentTrigger,
    "experiment.alert": ExperimentAlert,
    "promoter.command": PromoterCommand,
    "promoter.command_result": PromoterCommandResult,
    "ledger.record": LedgerRecord,
    "deadletter.record": DeadletterRecord,
}


def parse_event(obj: dict[str, Any], event_type: str | None = None) -> BaseModel:
    """The typed model for a decoded JSON event (type from obj["event_type"] unless given)."""
    key = event_type or obj.get("event_type")
    if not isinstance(key, str) or key not in EVENT_MODELS:
        raise ValueError(f"unknown event type {key!r}")
    return EVENT_MODELS[key].model_validate(obj)
