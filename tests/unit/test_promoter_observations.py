"""What the stream agent reads from events: the few fields it needs, poison refused."""

import uuid

import orjson
import pytest

from promoter.observations import (
    FeedbackSeen,
    ReplySeen,
    RequestSeen,
    read_feedback,
    read_reply,
    read_request,
)
from schemas.serving_events import Feedback, PredictReply, PredictRequest


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


def _wire(event: PredictRequest | PredictReply | Feedback) -> bytes:
    return orjson.dumps(event.model_dump(mode="json"))


def _edited(event: PredictRequest | PredictReply | Feedback, **changes: object) -> bytes:
    return orjson.dumps({**event.model_dump(mode="json"), **changes})


POISON = [
    None,
    b"",
    b"\xff\xfe not utf-8",
    b"not json",
    b"[1, 2]",
    b"[" * 100_000,
    b'"text"',
    b'{"event_type": "predict.request"}',
    b'{"event_type": "predict.request", "request_id": "nope"}',
]


@pytest.mark.parametrize("raw", POISON)
@pytest.mark.parametrize("read", [read_request, read_reply, read_feedback])
def test_every_kind_of_poison_is_a_value_error(raw: bytes | None, read: object) -> None:
    with pytest.raises(ValueError):  # the agent catches exactly this
        read(raw)  # type: ignore[operator]


def test_an_event_of_another_type_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="event_type"):
        read_request(_wire(_feedback(70.0)))
    with pytest.raises(ValueError, match="event_type"):
        read_feedback(_wire(_request()))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("experiment_id", ""),
        ("experiment_id", "has space"),
        ("experiment_id", 7),
        ("variant", "shadow"),
        ("shadow", "false"),
        ("occurred_at", "2026-11-27 02:11:58"),
        ("occurred_at", "2026-11-27T02:11:58.123+05:30"),
        ("schema_version", 2),
        ("schema_version", True),
    ],
)
def test_a_request_with_a_broken_field_is_refused_naming_it(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        read_request(_edited(_request(), **{field: value}))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"request_id": "not-a-uuid"}, "request_id"),
        ({"status": "maybe"}, "status"),
        ({"timings": None}, "timings"),
        ({"timings": {"queued_ms": -1, "predict_ms": 0.5, "batch_size": 1}}, "queued_ms"),
        ({"timings": {"queued_ms": True, "predict_ms": 0.5, "batch_size": 1}}, "queued_ms"),
        ({"price_lakhs": None}, "price_lakhs"),
        ({"price_lakhs": "80"}, "price_lakhs"),
    ],
)
def test_a_reply_with_a_broken_field_is_refused_naming_it(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        read_reply(_edited(_reply(), **changes))


def test_feedback_with_a_true_price_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="actual_price_lakhs"):
        read_feedback(_edited(_feedback(70.0), actual_price_lakhs=0))


def test_a_request_reads_as_its_arm_shadow_flag_and_time() -> None:
    request = _request(variant="candidate")
    assert read_request(_wire(request)) == RequestSeen(
        "exp-1", "candidate", False, request.occurred_at.timestamp()
    )
    assert read_request(_wire(_request(shadow=True))).shadow is True


def test_a_reply_reads_as_its_error_latency_and_price() -> None:
    ok, failed = _reply(ok=True, price=81.5), _reply(ok=False)
    assert read_reply(_wire(ok)) == ReplySeen(
        ok.request_id, "exp-1", "candidate", False, ok.occurred_at.timestamp(), False, 1.75, 81.5
    )
    seen = read_reply(_wire(failed))
    assert (seen.failed, seen.latency_ms, seen.price_lakhs) == (True, 1.75, None)


def test_feedback_reads_as_its_request_and_true_price_if_any() -> None:
    priced, judged = _feedback(70.5), _feedback(None, kind="too_high")
    assert read_feedback(_wire(priced)) == FeedbackSeen(
        priced.request_id, 70.5, priced.occurred_at.timestamp()
    )
    assert read_feedback(_wire(judged)).actual_price_lakhs is None
