"""What the stream agent takes from each event: window increments and feedback-join halves.

Plain functions of the decoded events (no Faust, no Kafka). Shadow copies are left out:
they are not what a client was served, and a shadow reply shares its request id with
the served one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from promoter.windows import Arm, WindowCounts
from schemas.models import Feedback, PredictReply, PredictRequest

EventModel = TypeVar("EventModel", bound=BaseModel)


def decode(raw: bytes | None, model: type[EventModel]) -> EventModel:
    """The event in ``raw``, validated against ``model``.

    Raises:
        ValueError: for every kind of poison: empty, not UTF-8, not JSON, too deeply
            nested, not an object, or not a valid ``model`` (pydantic's error is one).
    """
    if not raw:
        raise ValueError("empty message")
    try:
        obj = json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    return model.model_validate(obj)


@dataclass(frozen=True)
class WindowDelta:
    """Increments for one arm at one moment (Unix seconds of the event's occurred_at)."""

    arm: Arm
    at_s: float
    counts: WindowCounts

    def to_wire(self) -> dict[str, Any]:
        return {"arm": list(self.arm), "at_s": self.at_s, "counts": asdict(self.counts)}

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> WindowDelta:
        return cls(Arm(*obj["arm"]), float(obj["at_s"]), WindowCounts(**obj["counts"]))


def request_delta(request: PredictRequest) -> WindowDelta | None:
    """One request served to its variant, or None for a shadow copy."""
    if request.shadow:
        return None
    arm = Arm(request.experiment_id, request.variant)
    return WindowDelta(arm, request.occurred_at.timestamp(), WindowCounts(requests=1))


def reply_delta(reply: PredictReply) -> WindowDelta | None:
    """The reply's error (0 or 1) and latency, or None for a shadow reply.

    Latency is request occurred_at -> prediction done: ``queued_ms + predict_ms``.
    """
    if reply.shadow:
        return None
    counts = WindowCounts(
        errors=int(reply.status != "ok"),
        latency_ms_sum=reply.timings.queued_ms + reply.timings.predict_ms,
    )
    arm = Arm(reply.experiment_id, reply.variant)
    return WindowDelta(arm, reply.occurred_at.timestamp(), counts)


# --------------------------------------------------------------------------- feedback join


@dataclass(frozen=True)
class ReplyHalf:
    """What feedback needs from the served reply."""

    experiment_id: str
    variant: str
    price_lakhs: float


@dataclass(frozen=True)
class FeedbackHalf:
    actual_price_lakhs: float
    at_s: float


Half = ReplyHalf | FeedbackHalf


def half_to_wire(half: Half) -> dict[str, Any]:
    return {"kind": "reply" if isinstance(half, ReplyHalf) else "feedback", **asdict(half)}


def half_from_wire(obj: dict[str, Any]) -> Half:
    fields = {k: v for k, v in obj.items() if k != "kind"}
    return ReplyHalf(**fields) if obj["kind"] == "reply" else FeedbackHalf(**fields)


@dataclass(frozen=True)
class JoinMessage:
    """One half on its way to the join, keyed by its request id."""

    request_id: str
    half: Half

    def to_wire(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "half": half_to_wire(self.half)}

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> JoinMessage:
        return cls(str(obj["request_id"]), half_from_wire(obj["half"]))


def reply_half(reply: PredictReply) -> ReplyHalf | None:
    """The served price, or None when there is nothing to compare (shadow, error)."""
    if reply.shadow or reply.price_lakhs is None:
        return None
    return ReplyHalf(reply.experiment_id, reply.variant, reply.price_lakhs)


def feedback_half(feedback: Feedback) -> FeedbackHalf | None:
    """The true price, or None for a judgement without one."""
    if feedback.actual_price_lakhs is None:
        return None
    return FeedbackHalf(feedback.actual_price_lakhs, feedback.occurred_at.timestamp())


@dataclass(frozen=True)
class JoinStep:
    """What to do with one arriving half: count a joined pair, and keep or drop state."""

    delta: WindowDelta | None
    keep: Half | None  # store this for the request id; None: forget the request id


def join(stored: Half | None, arriving: Half) -> JoinStep:
    """Pair ``arriving`` with the other half stored for the same request id, if any.

    A pair counts one feedback and its absolute error for the reply's arm, at the
    feedback's time. Without a partner the newest half is kept (a repeat replaces it).
    """
    if isinstance(stored, ReplyHalf) and isinstance(arriving, FeedbackHalf):
        return JoinStep(_joined(stored, arriving), None)
    if isinstance(stored, FeedbackHalf) and isinstance(arriving, ReplyHalf):
        return JoinStep(_joined(arriving, stored), None)
    return JoinStep(None, arriving)


def _joined(reply: ReplyHalf, feedback: FeedbackHalf) -> WindowDelta:
    counts = WindowCounts(
        abs_error_sum=abs(reply.price_lakhs - feedback.actual_price_lakhs), feedback_count=1
    )
    return WindowDelta(Arm(reply.experiment_id, reply.variant), feedback.at_s, counts)
