"""A model's life: published (with its training distribution), reloaded, promoted, rejected,
rolled back."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from schemas.envelope import Event
from schemas.fields import (
    Actor,
    Contract,
    ErrorInfo,
    Finite,
    Generation,
    Location,
    ModelVersion,
    NonNegative,
    PredictorId,
    Reason,
    ServingSlot,
)

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
