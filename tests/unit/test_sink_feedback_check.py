"""Feedback over Kafka: only for served requests, only finite prices within the schema's range."""

import json
from pathlib import Path
from typing import Any

import pytest

from consumers.decoding import decode_event
from consumers.errors import UnservedRequestError
from consumers.feedback_check import check_feedback
from plumbing.errors import SchemaMismatchError
from plumbing.request_ids import RequestIds
from schemas.registry import TABLES_SQL

EXAMPLE = TABLES_SQL.parent.parent / "examples" / "feedback" / "valid" / "actual_price.json"
IDS = RequestIds(b"the key the gateways and the sink share")


def _feedback(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(Path(EXAMPLE).read_text(encoding="utf-8"))
    return {**event, "request_id": IDS.mint(), **changes}


def test_feedback_for_a_served_request_passes_and_other_events_are_not_looked_at() -> None:
    check_feedback("feedback", _feedback(), IDS)
    check_feedback("predict.reply", {"request_id": "not minted"}, IDS)


def test_feedback_for_a_request_no_gateway_served_is_rejected_naming_the_field() -> None:
    with pytest.raises(UnservedRequestError, match="request_id: no gateway served"):
        check_feedback(
            "feedback", _feedback(request_id="3f2c6a1e-9b4d-4c1a-8e2f-5a6b7c8d9e0f"), IDS
        )


@pytest.mark.parametrize("price", ["1e200", "NaN", "Infinity", "-Infinity", "0.5", "10000.01"])
def test_a_price_out_of_range_or_not_finite_is_a_schema_error(price: str) -> None:
    text = json.dumps(_feedback(actual_price_lakhs=12345.0)).replace("12345.0", price)

    with pytest.raises(SchemaMismatchError):
        decode_event(text.encode(), events=("feedback",), topic="feedback")
