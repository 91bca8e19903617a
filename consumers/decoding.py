"""Consumed bytes into a valid event of the topic, or the precise reason it is not one.

A message is accepted exactly when its JSON Schema accepts it. The strict pydantic
models (proved equal to the schemas by the schema tests) are tried first because they
are far faster than the validator; the validator runs only when a
model refuses, to confirm and to word the reason with the field path.
"""

from typing import Any

from pydantic import ValidationError

from plumbing.errors import SchemaMismatchError
from plumbing.message_json import decode_json
from schemas.errors import EventValidationError
from schemas.models import EVENT_MODELS
from schemas.registry import validate_event


def event_type_of(obj: dict[str, Any], events: tuple[str, ...], topic: str) -> str:
    """Which of the topic's event types ``obj`` is (a one-type topic may omit it)."""
    claimed = obj.get("event_type")
    if claimed is None and len(events) == 1:
        return events[0]
    if claimed not in events:
        allowed = ", ".join(events)
        raise SchemaMismatchError(f"event_type: {claimed!r} does not belong on {topic} ({allowed})")
    return str(claimed)


def validate(obj: dict[str, Any], event_type: str) -> None:
    """Accept ``obj`` exactly when the schema of ``event_type`` does.

    Raises:
        SchemaMismatchError: naming the event type, the field path and the rule.
    """
    model = EVENT_MODELS.get(event_type)
    reason = ""
    if model is not None:
        try:
            model.model_validate(obj)
            return
        except ValidationError as strict_error:
            first = strict_error.errors()[0]
            reason = f"{'.'.join(str(p) for p in first['loc']) or '$'}: {first['msg']}"
    try:
        validate_event(obj, event_type)
    except EventValidationError as invalid:
        raise SchemaMismatchError(str(invalid)) from invalid
    if model is None:
        return
    # The schema accepts what strict mode refused (e.g. 2.0 for an integer): lax mode decides.
    try:
        model.model_validate(obj, strict=False)
    except ValidationError as error:
        raise SchemaMismatchError(f"{event_type}: {reason}") from error


def decode_event(value: bytes | None, *, events: tuple[str, ...], topic: str) -> tuple[str, Any]:
    """The event type and the valid event in a message of ``topic``.

    Raises:
        MessageRejectedError: one of its causes (tombstone, not JSON, not a valid event).
    """
    obj = decode_json(value)
    if not isinstance(obj, dict):
        raise SchemaMismatchError(f"$: an event is a JSON object, not {type(obj).__name__}")
    event_type = event_type_of(obj, events, topic)
    validate(obj, event_type)
    return event_type, obj
