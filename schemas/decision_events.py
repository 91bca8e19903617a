"""The promoter's events: window triggers, alerts, operators' commands and their results, and
the ledger record of every decision (what was decided, by whom, on what evidence)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from schemas.envelope import Event
from schemas.fields import (
    Actor,
    Counter,
    Etag,
    ExperimentId,
    Generation,
    Id200,
    NonNegative,
    NonNegativeInt,
    PredictorId,
    Reason,
    Slots,
    Timestamp,
    Uuid,
    Variant,
)


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
