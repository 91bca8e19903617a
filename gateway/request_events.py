"""The ``predict.request`` events the gateway sends, built in their wire form directly.

``PredictRequest.create(...).model_dump(mode="json")`` cost more per request than the
rest of the gateway's own work. The inputs here are already checked (the HTTP body
by its model, the row by prod's domain, the split by ``assign_variant``), so the event
is assembled as a dict; tests/unit/test_gateway_request_events.py proves that what it
builds is valid against the contract.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pricing.features import FeatureRow
from pricing.split import Assignment
from schemas.registry import SCHEMA_VERSION, format_timestamp


def predict_request_event(
    *,
    request_id: str,
    experiment_id: str,
    assignment: Assignment,
    split_key: str | None,
    source: str,
    row: FeatureRow,
    reply_to: dict[str, Any],
    now: datetime,
    timeout_s: float,
) -> dict[str, Any]:
    """The ``predict.request`` of one served request (not a shadow copy)."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "predict.request",
        "schema_version": SCHEMA_VERSION,
        "occurred_at": format_timestamp(now),
        "request_id": request_id,
        "experiment_id": experiment_id,
        "variant": assignment.variant,
        "assignment": assignment.assignment,
        "split_key": split_key,
        "slot": assignment.variant,
        "shadow": False,
        "source": source,
        "features": {
            "location": row.location,
            "total_sqft": float(row.total_sqft),
            "bath": row.bath,
            "bhk": row.bhk,
        },
        "reply_to": reply_to,
        "deadline_at": format_timestamp(now + timedelta(seconds=timeout_s)),
    }


def shadow_copy(request: dict[str, Any]) -> dict[str, Any]:
    """The same request mirrored to the candidate: its own event id (both are events)."""
    return {**request, "event_id": str(uuid.uuid4()), "shadow": True, "slot": "candidate"}


def utc_now() -> datetime:
    return datetime.now(UTC)
