"""The gateway builds predict.request events by hand: each shape it builds is a valid event."""

from datetime import UTC, datetime

import pytest

from gateway.request_events import predict_request_event, shadow_copy
from pricing.features import FeatureRow
from pricing.split import Assignment
from schemas.registry import validate_event
from schemas.serving_events import PredictRequest

NOW = datetime(2026, 12, 5, 20, 0, 0, 123456, tzinfo=UTC)
ROW = FeatureRow("1st block jayanagar", 1000, 2, 2)


def _event(assignment: Assignment, key: str | None, source: str = "http") -> dict[str, object]:
    return predict_request_event(
        request_id="0b7e5b7e-1111-4111-8111-111111111111",
        experiment_id="exp-1:m-abc",
        assignment=assignment,
        split_key=key,
        source=source,
        row=ROW,
        reply_to={"topic": "predict.replies", "partition": 3},
        now=NOW,
        timeout_s=2.0,
    )


@pytest.mark.parametrize(
    ("assignment", "key", "source"),
    [
        (Assignment("prod", "hashed", 12), "user-1", "http"),
        (Assignment("candidate", "hashed", 1), "user-2", "legacy_api"),
        (Assignment("prod", "random", 9000), None, "http"),
    ],
)
def test_every_built_request_is_valid_against_schema_and_model(
    assignment: Assignment, key: str | None, source: str
) -> None:
    event = _event(assignment, key, source)
    validate_event(event)
    request = PredictRequest.model_validate(event)
    assert request.slot == request.variant == assignment.variant
    assert request.features.total_sqft == 1000.0
    assert event["occurred_at"] == "2026-12-05T20:00:00.123Z"
    assert event["deadline_at"] == "2026-12-05T20:00:02.123Z"


def test_shadow_copy_is_a_valid_candidate_event_of_its_own() -> None:
    served = _event(Assignment("prod", "hashed", 12), "user-1")
    shadow = shadow_copy(served)
    validate_event(shadow)
    assert PredictRequest.model_validate(shadow).shadow is True
    assert shadow["slot"] == "candidate" and shadow["variant"] == "prod"
    assert shadow["event_id"] != served["event_id"]
    assert shadow["request_id"] == served["request_id"]
