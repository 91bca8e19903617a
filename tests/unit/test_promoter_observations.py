"""What the stream agent takes from events: poison refused, shadows left out, feedback joined."""

import json
import uuid

import pytest

from plumbing.kafka import encode_json
from promoter.observations import (
    FeedbackHalf,
    JoinMessage,
    ReplyHalf,
    WindowDelta,
    decode,
    feedback_half,
    half_from_wire,
    half_to_wire,
    join,
    reply_delta,
    reply_half,
    request_delta,
)
from promoter.windows import Arm, WindowCounts
from schemas.models import Feedback, PredictReply, PredictRequest


def _request(*, variant: str = "candidate", shadow: bool = False) -> PredictRequest:
    slot = ("prod" if variant == "candidate" else "candidate") if shadow else variant
    return PredictRequest.create(
        request_id=str(uuid.uuid4()),
        experiment_id="exp-1",
        variant=variant,
        assignment="random",
        split_key=None,
        slot=slot,
        shadow=shadow,
        source="http",
        features={"location": "Whitefield", "total_sqft": 1200.0, "bath": 2, "bhk": 3},
        reply_to={"topic": "predict.replies", "partition": 0},
        deadline_at="2026-11-27T02:12:00.123Z",
    )


def _reply(*, ok: bool = True, shadow: bool = False, price: float = 80.0) -> PredictReply:
    return PredictReply.create(
        request_id=str(uuid.uuid4()),
        experiment_id="exp-1",
        variant="candidate",
        slot="prod" if shadow else "candidate",
        shadow=shadow,
        model_version="v2" if ok else None,
        status="ok" if ok else "error",
        price_lakhs=price if ok else None,
        error=None if ok else {"code": "no_model", "message": "none loaded", "field": None},
        predictor_id="candidate-1",
        timings={"queued_ms": 1.5, "predict_ms": 0.25, "batch_size": 4},
    )


def _feedback(actual: float | None, kind: str | None = "actual_price") -> Feedback:
    return Feedback.create(
        request_id=str(uuid.uuid4()),
        actual_price_lakhs=actual,
        source="kafka",
        feedback_type=kind,
        note=None,
    )


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"\xff\xfe not utf-8",
        b"not json",
        b"[1, 2]",
        b"[" * 100_000,
        b'{"event_type": "predict.request"}',
        encode_json({**_feedback(70.0).model_dump(mode="json")}),  # valid, wrong type
    ],
)
def test_every_kind_of_poison_is_a_value_error(raw: bytes | None) -> None:
    with pytest.raises(ValueError):  # the agent catches exactly this
        decode(raw, PredictRequest)


def test_a_valid_event_decodes_to_its_model() -> None:
    request = _request()
    raw = json.dumps(request.model_dump(mode="json")).encode()
    assert decode(raw, PredictRequest) == request


def test_a_served_request_counts_one_for_its_arm_at_its_time() -> None:
    request = _request(variant="candidate")
    delta = request_delta(request)
    assert delta == WindowDelta(
        Arm("exp-1", "candidate"), request.occurred_at.timestamp(), WindowCounts(requests=1)
    )


def test_shadow_copies_are_not_counted_nor_joined() -> None:
    assert request_delta(_request(shadow=True)) is None
    assert reply_delta(_reply(shadow=True)) is None
    assert reply_half(_reply(shadow=True)) is None


def test_a_reply_counts_its_error_and_latency() -> None:
    ok, failed = reply_delta(_reply(ok=True)), reply_delta(_reply(ok=False))
    assert ok is not None and failed is not None
    assert ok.counts == WindowCounts(errors=0, latency_ms_sum=1.75)
    assert failed.counts == WindowCounts(errors=1, latency_ms_sum=1.75)
    assert reply_half(_reply(ok=False)) is None  # no price to compare


def test_feedback_without_a_true_price_is_not_joined() -> None:
    assert feedback_half(_feedback(None, kind="too_high")) is None
    assert feedback_half(_feedback(70.5)) is not None


@pytest.mark.parametrize("reply_first", [True, False])
def test_feedback_joins_its_reply_in_either_order(reply_first: bool) -> None:
    reply, feedback = ReplyHalf("exp-1", "candidate", 80.0), FeedbackHalf(70.5, 1.8e9)
    first, second = (reply, feedback) if reply_first else (feedback, reply)
    held = join(None, first)
    assert held.delta is None and held.keep == first
    paired = join(held.keep, second)
    assert paired.keep is None
    assert paired.delta == WindowDelta(
        Arm("exp-1", "candidate"), 1.8e9, WindowCounts(abs_error_sum=9.5, feedback_count=1)
    )


def test_a_repeated_half_replaces_the_one_held() -> None:
    step = join(FeedbackHalf(70.0, 1.0), FeedbackHalf(71.0, 2.0))
    assert step.delta is None and step.keep == FeedbackHalf(71.0, 2.0)


@pytest.mark.parametrize("half", [ReplyHalf("exp-1", "prod", 1.5), FeedbackHalf(2.5, 3.0)])
def test_halves_and_deltas_survive_the_wire(half: ReplyHalf | FeedbackHalf) -> None:
    assert half_from_wire(json.loads(json.dumps(half_to_wire(half)))) == half
    message = JoinMessage(str(uuid.uuid4()), half)
    assert JoinMessage.from_wire(json.loads(json.dumps(message.to_wire()))) == message
    delta = WindowDelta(Arm("exp-1", "prod"), 1.5, WindowCounts(errors=1, latency_ms_sum=2.0))
    assert WindowDelta.from_wire(json.loads(json.dumps(delta.to_wire()))) == delta
