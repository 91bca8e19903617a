"""Building a predictor's events: replies, score results and reload acknowledgements."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from predictors.inference import Outcome
from predictors.model_slot import SlotChange
from predictors.replies import (
    build_reloaded,
    build_reply,
    build_score_result,
    queued_ms,
    score_request_id,
)
from predictors.worker import unexpired
from schemas.registry import validate_event
from schemas.serving_events import PredictRequest

OCCURRED = datetime(2026, 11, 27, 2, 11, 58, 123000, tzinfo=UTC)


def _request(**changes: Any) -> PredictRequest:
    fields: dict[str, Any] = {
        "event_id": "0b7d2a94-5c3e-4f1a-9d8b-000000000001",
        "event_type": "predict.request",
        "schema_version": 1,
        "occurred_at": "2026-11-27T02:11:58.123Z",
        "request_id": "3f2c6a1e-9b4d-4c1a-8e2f-5a6b7c8d9e0f",
        "experiment_id": "exp-1:v2",
        "variant": "prod",
        "assignment": "hashed",
        "split_key": "user-7",
        "slot": "prod",
        "shadow": False,
        "source": "http",
        "features": {"location": "whitefield", "total_sqft": 1200, "bath": 2, "bhk": 2},
        "reply_to": {"topic": "predict.replies", "partition": 3},
        "deadline_at": "2026-11-27T02:12:00.123Z",
    }
    return PredictRequest.model_validate({**fields, **changes})


def _reply(request: PredictRequest, outcome: Outcome, **changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "slot": "prod",
        "model_version": "v1",
        "predictor_id": "prod-host-1",
        "predict_ms": 0.1234,
        "batch_size": 7,
        "batch_started_at": OCCURRED + timedelta(milliseconds=40),
    }
    return build_reply(request, outcome, **{**arguments, **changes})


def test_ok_reply_carries_the_rounded_price_version_and_timings() -> None:
    reply = _reply(_request(), Outcome.ok(87.123456))

    validate_event(reply, "predict.reply")
    assert reply["request_id"] == "3f2c6a1e-9b4d-4c1a-8e2f-5a6b7c8d9e0f"
    assert reply["experiment_id"] == "exp-1:v2"
    assert (reply["variant"], reply["slot"], reply["shadow"]) == ("prod", "prod", False)
    assert (reply["status"], reply["price_lakhs"], reply["error"]) == ("ok", 87.12, None)
    assert reply["model_version"] == "v1"
    assert reply["predictor_id"] == "prod-host-1"
    assert reply["timings"] == {"queued_ms": 40.0, "predict_ms": 0.123, "batch_size": 7}


def test_out_of_domain_reply_is_an_error_naming_the_field() -> None:
    outcome = Outcome.failed("out_of_domain", "unknown location 'atlantis'", "location")
    reply = _reply(_request(), outcome)

    validate_event(reply, "predict.reply")
    assert reply["status"] == "error"
    assert reply["price_lakhs"] is None
    assert reply["error"] == {
        "code": "out_of_domain",
        "message": "unknown location 'atlantis'",
        "field": "location",
    }


def test_shadow_reply_names_the_answering_slot_and_keeps_the_variant() -> None:
    request = _request(variant="prod", slot="candidate", shadow=True)
    reply = _reply(request, Outcome.ok(10), slot="candidate", model_version="v2")

    validate_event(reply, "predict.reply")
    assert (reply["variant"], reply["slot"], reply["shadow"]) == ("prod", "candidate", True)


def test_queued_ms_is_never_negative_when_clocks_drift() -> None:
    assert queued_ms(OCCURRED, OCCURRED - timedelta(seconds=1)) == 0.0
    assert queued_ms(OCCURRED, OCCURRED + timedelta(milliseconds=2.5)) == pytest.approx(2.5)


def test_score_result_carries_the_producers_id_and_validates() -> None:
    result = build_score_result(
        row_id="row-17",
        request_id=score_request_id("score.requests", 1, 42),
        experiment_id="exp-1:prod-only",
        variant="prod",
        model_version="v1",
        outcome=Outcome.ok(55.556),
    )

    validate_event(result, "score.result")
    assert (result["id"], result["status"], result["price_lakhs"]) == ("row-17", "ok", 55.56)


def test_score_request_id_is_stable_for_a_redelivered_message() -> None:
    first = score_request_id("score.requests", 1, 42)
    assert first == score_request_id("score.requests", 1, 42)
    assert first != score_request_id("score.requests", 1, 43)


def test_reload_ack_of_a_refused_model_names_the_error_and_the_kept_version() -> None:
    change = SlotChange(
        "prod", "v1", 3, 12.5, changed=False, error_code="integrity", error_message="sha mismatch"
    )
    ack = build_reloaded(change, predictor_id="prod-host-1")

    validate_event(ack, "model.reloaded")
    assert (ack["ok"], ack["model_version"], ack["generation"]) == (False, "v1", 3)
    assert ack["error"] == {"code": "integrity", "message": "sha mismatch", "field": None}


def test_reload_ack_of_an_empty_candidate_slot_is_ok_with_no_version() -> None:
    ack = build_reloaded(SlotChange("candidate", None, 4, 0.0, changed=True), predictor_id="c-1")

    validate_event(ack, "model.reloaded")
    assert (ack["ok"], ack["model_version"], ack["error"]) == (True, None, None)


def test_requests_past_their_deadline_are_not_predicted() -> None:
    on_time = _request(deadline_at="2026-11-27T02:12:00.123Z")
    late = _request(deadline_at="2026-11-27T02:11:59.000Z")
    now = datetime(2026, 11, 27, 2, 11, 59, 500000, tzinfo=UTC)
    assert unexpired([late, on_time], now) == [on_time]
    assert unexpired([on_time], datetime(2026, 11, 27, 2, 12, 0, 123000, tzinfo=UTC)) == []


def test_a_batch_check_refuses_a_malformed_event_of_each_status() -> None:
    from pydantic import ValidationError

    from predictors.replies import check_batch
    from schemas.serving_events import PredictReply

    ok = _reply(_request(), Outcome.ok(10.0))
    failed = _reply(_request(), Outcome.failed("out_of_domain", "unknown location", "location"))
    check_batch(PredictReply, [ok, ok, failed])

    with pytest.raises(ValidationError):
        check_batch(PredictReply, [ok, {**failed, "predictor_id": "x" * 201}])
