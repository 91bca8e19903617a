"""What the stream agent reads from each source event: a few fields, checked, no model.

The agent reads millions of events and needs five or six fields of each, so it decodes
with orjson and checks only those fields, each against its rule in ``schemas/`` (event
type, schema version, the id and timestamp patterns, the variant enum, non-negative
numbers). A message that breaks one raises ``ValueError`` naming the field: the agent logs
it and skips it (the sink dead-letters the same message). Plain functions, no Faust.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple, overload

import orjson

from schemas.registry import common_schema

_COMMON = common_schema()["$defs"]
_UUID = re.compile(_COMMON["uuid"]["pattern"])
_TIMESTAMP = re.compile(_COMMON["timestamp"]["pattern"])
_EXPERIMENT_ID = re.compile(_COMMON["experiment_id"]["pattern"])
_EXPERIMENT_ID_MAX = _COMMON["experiment_id"]["maxLength"]
VARIANTS = frozenset(_COMMON["variant"]["enum"])
_STATUSES = frozenset(_COMMON["status"]["enum"])


class RequestSeen(NamedTuple):
    """A prediction request: one for its arm, unless it is a shadow copy."""

    experiment_id: str
    variant: str
    shadow: bool
    at_s: float


class ReplySeen(NamedTuple):
    """A reply: its error, latency and served price for the feedback join."""

    request_id: str
    experiment_id: str
    variant: str
    shadow: bool
    at_s: float
    failed: bool
    latency_ms: float
    price_lakhs: float | None


class FeedbackSeen(NamedTuple):
    """Feedback: the true price of a request, if it gives one."""

    request_id: str
    actual_price_lakhs: float | None
    at_s: float


Seen = RequestSeen | ReplySeen | FeedbackSeen


def json_object(raw: bytes | None) -> dict[str, Any]:
    """The JSON object in ``raw``.

    Raises:
        ValueError: empty, not UTF-8, not JSON, nested too deeply, or not an object.
    """
    if not raw:
        raise ValueError("empty message")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def read_request(raw: bytes | None) -> RequestSeen:
    """The fields of a ``predict.request`` the windows count. Raises ValueError."""
    obj = _event(raw, "predict.request")
    return RequestSeen(
        _experiment_id(obj), _variant(obj), _bool(obj, "shadow"), _timestamp(obj, "occurred_at")
    )


def read_reply(raw: bytes | None) -> ReplySeen:
    """The fields of a ``predict.reply`` the windows and the join need. Raises ValueError."""
    obj = _event(raw, "predict.reply")
    status = obj.get("status")
    if status not in _STATUSES:
        raise ValueError(f"status: expected one of {sorted(_STATUSES)}")
    timings = obj.get("timings")
    if not isinstance(timings, dict):
        raise ValueError("timings: expected an object")
    price = _number(obj, "price_lakhs", nullable=True)
    if (status == "ok") != (price is not None):
        raise ValueError("price_lakhs: required when status is ok, null otherwise")
    return ReplySeen(
        _uuid(obj, "request_id"),
        _experiment_id(obj),
        _variant(obj),
        _bool(obj, "shadow"),
        _timestamp(obj, "occurred_at"),
        status != "ok",
        _number(timings, "queued_ms") + _number(timings, "predict_ms"),
        price,
    )


def read_feedback(raw: bytes | None) -> FeedbackSeen:
    """The fields of a ``feedback`` event the join needs. Raises ValueError."""
    obj = _event(raw, "feedback")
    actual = _number(obj, "actual_price_lakhs", nullable=True)
    if actual is not None and actual <= 0:
        raise ValueError("actual_price_lakhs: must be greater than 0")
    return FeedbackSeen(_uuid(obj, "request_id"), actual, _timestamp(obj, "occurred_at"))


Reader = Callable[[bytes | None], Seen]


def read_batch(
    messages: Iterable[tuple[str, bytes | None]], readers: Mapping[str, Reader]
) -> tuple[list[Seen], list[tuple[int, str]]]:
    """Each ``(topic, value)`` read by its topic's reader.

    Returns:
        What the valid messages say, and ``(position, reason)`` of each refused one.
    """
    seen: list[Seen] = []
    refused: list[tuple[int, str]] = []
    for position, (topic, raw) in enumerate(messages):
        try:
            seen.append(readers[topic](raw))
        except ValueError as exc:
            refused.append((position, str(exc)))
    return seen, refused


# --------------------------------------------------------------------------- field rules


def _event(raw: bytes | None, event_type: str) -> dict[str, Any]:
    obj = json_object(raw)
    if obj.get("event_type") != event_type:
        raise ValueError(f"event_type: expected {event_type}, got {obj.get('event_type')!r:.80}")
    if obj.get("schema_version") != 1 or isinstance(obj.get("schema_version"), bool):
        raise ValueError("schema_version: expected 1")
    return obj


def _string(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string")
    return value


def _uuid(obj: dict[str, Any], name: str) -> str:
    value = _string(obj, name)
    if not _UUID.fullmatch(value):
        raise ValueError(f"{name}: expected a lowercase UUID")
    return value


def _experiment_id(obj: dict[str, Any]) -> str:
    value = _string(obj, "experiment_id")
    if len(value) > _EXPERIMENT_ID_MAX or not _EXPERIMENT_ID.fullmatch(value):
        raise ValueError("experiment_id: not a valid experiment id")
    return value


def _variant(obj: dict[str, Any]) -> str:
    value = obj.get("variant")
    if value not in VARIANTS:
        raise ValueError(f"variant: expected one of {sorted(VARIANTS)}")
    return str(value)  # a member of VARIANTS, so already a str


def _bool(obj: dict[str, Any], name: str) -> bool:
    value = obj.get(name)
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected true or false")
    return value


@overload
def _number(obj: dict[str, Any], name: str, *, nullable: Literal[False] = False) -> float: ...
@overload
def _number(obj: dict[str, Any], name: str, *, nullable: bool) -> float | None: ...
def _number(obj: dict[str, Any], name: str, *, nullable: bool = False) -> float | None:
    """A finite number >= 0 (None where ``nullable`` and null); bools are not numbers."""
    value = obj.get(name, ...)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0")
    return float(value)


def _timestamp(obj: dict[str, Any], name: str) -> float:
    value = _string(obj, name)
    if not _TIMESTAMP.fullmatch(value):
        raise ValueError(f"{name}: expected a UTC timestamp like 2026-11-27T02:11:58.123Z")
    return datetime.fromisoformat(value).timestamp()
