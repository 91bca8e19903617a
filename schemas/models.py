"""Every event's typed model by event type; each mirrors schemas/events/*.json (tests prove it).

The rules all models share are in schemas/envelope.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from schemas.deadletter_record import DeadletterRecord
from schemas.decision_events import (
    ExperimentAlert,
    ExperimentTrigger,
    LedgerRecord,
    PromoterCommand,
    PromoterCommandResult,
)
from schemas.model_events import (
    ModelCandidatePublished,
    ModelPromoted,
    ModelRejected,
    ModelReload,
    ModelReloaded,
    ModelRolledBack,
)
from schemas.serving_events import Feedback, PredictReply, PredictRequest, ScoreRequest, ScoreResult

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
