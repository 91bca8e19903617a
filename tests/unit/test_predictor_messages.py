"""Decoding requests: what a predictor accepts, and the cause of what it rejects."""

import json
from typing import Any

import pytest

from plumbing.errors import NotJsonError, SchemaMismatchError
from predictors.errors import MissingReplyAddressError
from predictors.messages import (
    ReplyAddresses,
    decode_predict_request,
    decode_reload,
    decode_score_request,
    reload_reason,
)


def _addresses(partitions: set[int] | None = None) -> ReplyAddresses:
    return ReplyAddresses("predict.replies", lambda topic: partitions or {0, 1, 2})


def _request(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "event_id": "0b7d2a94-5c3e-4f1a-9d8b-000000000001",
        "event_type": "predict.request",
        "schema_version": 1,
        "occurred_at": "2026-11-27T02:11:58.123Z",
        "request_id": "3f2c6a1e-9b4d-4c1a-8e2f-5a6b7c8d9e0f",
        "experiment_id": "exp-1:v2",
        "variant": "prod",
        "assignment": "random",
        "split_key": None,
        "slot": "prod",
        "shadow": False,
        "source": "http",
        "features": {"location": "whitefield", "total_sqft": 1200, "bath": 2, "bhk": 2},
        "reply_to": {"topic": "predict.replies", "partition": 1},
        "deadline_at": "2026-11-27T02:12:00.123Z",
    }
    return {**request, **changes}


def _decode(obj: Any, *, slot: str = "prod") -> Any:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return decode_predict_request(raw, slot=slot, reply_addresses=_addresses())


# --------------------------------------------------------------------------- decoding


def test_valid_request_decodes() -> None:
    request = _decode(_request())
    assert request.reply_to.partition == 1
    assert request.features.total_sqft == 1200.0


def test_non_json_is_a_decode_error() -> None:
    with pytest.raises(NotJsonError) as caught:
        _decode(b"\xff not json")
    assert caught.value.error_type == "decode"


def test_json_nested_too_deeply_is_a_decode_error_not_a_crash() -> None:
    with pytest.raises(NotJsonError, match="nested too deeply") as caught:
        _decode(b"[" * 100_000)
    assert caught.value.error_type == "decode"


def test_wrong_schema_is_a_schema_error_naming_the_field() -> None:
    bad = _request(features={"location": "whitefield", "total_sqft": 1200, "bath": 2, "bhk": 0})
    with pytest.raises(SchemaMismatchError, match=r"features\.bhk") as caught:
        _decode(bad)
    assert caught.value.error_type == "schema"


def test_integral_float_accepted_by_the_schema_is_accepted() -> None:
    # JSON Schema's "integer" accepts 2.0; strict pydantic alone would refuse it.
    request = _decode(
        _request(features={"location": "whitefield", "total_sqft": 1200, "bath": 2.0, "bhk": 2})
    )
    assert request.features.bath == 2


def test_integral_floats_everywhere_are_accepted_without_the_schema_fallback() -> None:
    features = {"location": "whitefield", "total_sqft": 1200.0, "bath": 2.0, "bhk": 3.0}
    request = _decode(
        _request(features=features, reply_to={"topic": "predict.replies", "partition": 1.0})
    )
    assert (request.features.bath, request.features.bhk, request.reply_to.partition) == (2, 3, 1)
    assert all(type(v) is int for v in (request.features.bath, request.features.bhk))


@pytest.mark.parametrize("field", ["bath", "bhk"])
def test_a_fractional_feature_is_a_schema_error_naming_the_field_and_why(field: str) -> None:
    features = {"location": "whitefield", "total_sqft": 1200, "bath": 2, "bhk": 2, field: 2.5}
    with pytest.raises(SchemaMismatchError) as caught:
        _decode(_request(features=features))
    assert f"features.{field}" in str(caught.value)
    assert "2.5 is not of type 'integer'" in str(caught.value)


def test_score_requests_take_integral_floats_and_refuse_fractions() -> None:
    row = decode_score_request(
        b'{"id":"1","location":"whitefield","total_sqft":1056.0,"bath":2.0,"bhk":3.0}'
    )
    assert (row.bath, row.bhk) == (2, 3)
    with pytest.raises(SchemaMismatchError) as caught:
        decode_score_request(
            b'{"id":"1","location":"whitefield","total_sqft":1,"bath":1.5,"bhk":2}'
        )
    assert "bath" in str(caught.value) and "not of type 'integer'" in str(caught.value)


@pytest.mark.parametrize(
    "reply_to",
    [
        None,
        "predict.replies",
        {"topic": "predict.replies"},
        {"topic": "predict.replies", "partition": -1},
        {"topic": "model.events", "partition": 0},
        {"topic": "predict.replies", "partition": 7},
    ],
    ids=[
        "absent",
        "not-an-object",
        "no-partition",
        "negative",
        "foreign-topic",
        "no-such-partition",
    ],
)
def test_unusable_reply_address_is_a_missing_header_error(reply_to: Any) -> None:
    request = _request(reply_to=reply_to)
    if reply_to is None:
        del request["reply_to"]
    with pytest.raises(MissingReplyAddressError) as caught:
        _decode(request)
    assert caught.value.error_type == "missing_header"


def test_reply_topic_named_after_the_replies_topic_is_accepted() -> None:
    request = _decode(_request(reply_to={"topic": "predict.replies.gw-2", "partition": 0}))
    assert request.reply_to.topic == "predict.replies.gw-2"


def test_new_reply_partition_is_seen_after_the_refresh_interval() -> None:
    now = [0.0]
    partitions = [{0}]
    addresses = ReplyAddresses(
        "predict.replies", lambda topic: partitions[0], refresh_s=5.0, clock=lambda: now[0]
    )
    addresses.check({"topic": "predict.replies", "partition": 0})
    partitions[0] = {0, 1}
    with pytest.raises(MissingReplyAddressError):
        addresses.check({"topic": "predict.replies", "partition": 1})
    now[0] = 6.0
    addresses.check({"topic": "predict.replies", "partition": 1})


def test_request_for_the_other_slot_is_refused() -> None:
    with pytest.raises(SchemaMismatchError, match="slot"):
        _decode(_request(), slot="candidate")


def test_score_request_needs_only_id_and_features() -> None:
    row = decode_score_request(
        b'{"id":"1","location":"whitefield","total_sqft":1000,"bath":2,"bhk":2}'
    )
    assert (row.id, row.key) == ("1", None)
    with pytest.raises(SchemaMismatchError, match="id"):
        decode_score_request(b'{"location":"whitefield","total_sqft":1000,"bath":2,"bhk":2}')


def test_reload_listener_ignores_other_model_events() -> None:
    assert decode_reload(b'{"event_type":"model.reloaded"}') is None
    with pytest.raises(SchemaMismatchError):
        decode_reload(b'{"event_type":"model.reload","generation":-1}')


def test_a_published_candidate_is_a_reason_to_re_read_the_slots() -> None:
    published = json.dumps(
        {"event_type": "model.candidate_published", "model_version": "m-1"}
    ).encode()
    assert reload_reason(published) == "model.candidate_published m-1"
    assert reload_reason(b'{"event_type":"model.reloaded"}') is None
    with pytest.raises(NotJsonError):
        reload_reason(b"not json")
