"""Build the events a predictor produces: replies, score results and reload acknowledgements.

Pure functions: every input, the clock and the event id included, is an argument
(``occurred_at`` is formatted once per batch with ``schemas.registry.utc_now``, the
ids come from ``plumbing.event_ids`` once per batch). The dict is built in its wire
form directly rather than through ``Model.create(...).model_dump()``: that round trip
cost more per event than the prediction itself. Every field of a reply or
result comes from a validated request, the model's own outcome or the worker's
configuration, so a batch's events are checked against their model one per kind
(``check_batch``), not one by one; a reload acknowledgement (rare) is always checked.
"""

import uuid
from datetime import datetime
from typing import Any

import orjson

from plumbing.event_ids import name_based_id
from predictors.inference import Outcome
from predictors.model_slot import SlotChange
from schemas.envelope import Event
from schemas.model_events import ModelReloaded
from schemas.registry import SCHEMA_VERSION, utc_now
from schemas.serving_events import PredictReply, PredictRequest, ScoreResult

#: Namespace of the request ids derived for batch-scored rows.
SCORE_REQUEST_NAMESPACE = uuid.UUID("4f0c8f0e-6a43-5f7e-9a55-2f3c8a1d7b10")


def _event(
    model: type[Event], occurred_at: str, event_id: str | None, fields: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": model.event_type_name(),
        "schema_version": SCHEMA_VERSION,
        "occurred_at": occurred_at,
        **fields,
    }


def check_batch(model: type[Event], events: list[dict[str, Any]]) -> None:
    """Check one event of each status in ``events`` against ``model``.

    Raises:
        pydantic.ValidationError: that event is malformed (so is the batch's build).
    """
    seen: set[Any] = set()
    for event in events:
        status = event.get("status")
        if status not in seen:
            seen.add(status)
            model.model_validate(event)


def encode(event: dict[str, Any]) -> bytes:
    """An event's wire form: compact UTF-8 JSON (the producer sends bytes as they are)."""
    return orjson.dumps(event)


def queued_ms(occurred_at: datetime, now: datetime) -> float:
    """Milliseconds from ``occurred_at`` to ``now``; never negative (clocks drift)."""
    return max((now - occurred_at).total_seconds() * 1000, 0.0)


def build_reply(
    request: PredictRequest,
    outcome: Outcome,
    *,
    slot: str,
    model_version: str | None,
    predictor_id: str,
    predict_ms: float,
    batch_size: int,
    batch_started_at: datetime,
    occurred_at: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The ``predict.reply`` to ``request``, as JSON-ready data.

    Args:
        predict_ms: wall milliseconds of the batch's prediction.
        batch_started_at: when the batch's prediction started (queued_ms ends there).
        occurred_at: the reply's timestamp (wire form); now when not given.
        event_id: the reply's id; a new random one when not given.
    """
    return _event(
        PredictReply,
        occurred_at or utc_now(),
        event_id,
        {
            "request_id": request.request_id,
            "experiment_id": request.experiment_id,
            "variant": request.variant,
            "slot": slot,
            "shadow": request.shadow,
            "model_version": model_version,
            "status": outcome.status,
            "price_lakhs": outcome.price_lakhs,
            "error": outcome.error,
            "predictor_id": predictor_id,
            "timings": {
                "queued_ms": round(queued_ms(request.occurred_at, batch_started_at), 3),
                "predict_ms": round(predict_ms, 3),
                "batch_size": batch_size,
            },
        },
    )


def score_request_id(topic: str, partition: int, offset: int) -> str:
    """A request id for a scored row, stable across redeliveries of the same message."""
    return name_based_id(SCORE_REQUEST_NAMESPACE, f"{topic}/{partition}/{offset}")


def build_score_result(
    *,
    row_id: str,
    request_id: str,
    experiment_id: str,
    variant: str,
    model_version: str | None,
    outcome: Outcome,
    occurred_at: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The ``score.result`` of one scored row, as JSON-ready data."""
    return _event(
        ScoreResult,
        occurred_at or utc_now(),
        event_id,
        {
            "id": row_id,
            "request_id": request_id,
            "experiment_id": experiment_id,
            "variant": variant,
            "model_version": model_version,
            "status": outcome.status,
            "price_lakhs": outcome.price_lakhs,
            "error": outcome.error,
        },
    )


def build_reloaded(
    change: SlotChange, *, predictor_id: str, occurred_at: str | None = None
) -> dict[str, Any]:
    """The ``model.reloaded`` acknowledgement of one slot's reload."""
    error = None
    if not change.ok:
        error = {"code": change.error_code, "message": change.error_message or "", "field": None}
    ack = _event(
        ModelReloaded,
        occurred_at or utc_now(),
        None,
        {
            "predictor_id": predictor_id,
            "slot": change.slot,
            "model_version": change.version,
            "generation": change.generation,
            "load_ms": round(change.load_ms, 3),
            "ok": change.ok,
            "error": error,
        },
    )
    ModelReloaded.model_validate(ack)  # raises pydantic.ValidationError on a malformed ack
    return ack
