"""Hot reload on the real stack: broadcast, acknowledgement, tampered files, the safety net."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaConsumer

from cli.settings import Settings
from schemas.registry import validate_event
from tests.integration.predictor_namespace import (
    Namespace,
    Worker,
    broadcast_reload,
    collect,
    forge,
    make_namespace,
    predict_request,
    produce,
    publish,
    reading,
    running_worker,
    set_slots,
    tamper,
)


@pytest.fixture
def ns(stack: Settings) -> Namespace:
    namespace = make_namespace(stack)
    publish(namespace, "v1", scale=1.0)
    set_slots(namespace, best="v1")
    return namespace


@pytest.fixture
def prod(ns: Namespace) -> Iterator[Worker]:
    with running_worker(ns, "prod", refresh_s=300) as worker:
        yield worker


def _ask(ns: Namespace, count: int = 1) -> list[dict[str, Any]]:
    """Send ``count`` prod requests and return their replies."""
    requests = [predict_request(ns, total_sqft=1000.0) for _ in range(count)]
    ids = {r["request_id"] for r in requests}
    with reading(ns, "predict_replies") as replies:
        produce(ns, "predict_requests_prod", requests)
        return [e for _, e in collect(replies, lambda e: e.get("request_id") in ids, count=count)]


def _acks(events: KafkaConsumer, generation: int) -> list[dict[str, Any]]:
    found = collect(
        events,
        lambda e: e.get("event_type") == "model.reloaded" and e.get("generation") == generation,
        count=1,
    )
    return [e for _, e in found]


def test_reload_acknowledges_the_new_version_and_later_replies_carry_it(
    ns: Namespace, prod: Worker
) -> None:
    # Given a worker serving v1
    assert [r["model_version"] for r in _ask(ns)] == ["v1"]
    publish(ns, "v2", scale=2.0)

    # When the slots move to v2 and a reload is broadcast, with requests before and after
    with (
        reading(ns, "model_events", from_end=True) as events,
        reading(ns, "predict_replies") as replies,
    ):
        before = [predict_request(ns) for _ in range(100)]
        produce(ns, "predict_requests_prod", before)
        slots = set_slots(ns, best="v2")
        broadcast_reload(ns, slots, reason="promote")
        after = [predict_request(ns) for _ in range(100)]
        produce(ns, "predict_requests_prod", after)
        acks = _acks(events, slots.generation)
        ids = {r["request_id"] for r in before + after}
        answered = collect(replies, lambda e: e.get("request_id") in ids, count=len(ids))

    # Then the worker acknowledges v2, no request failed during the swap, and v2 answers next
    assert len(acks) == 1, prod.log()[-3000:]
    ack = acks[0]
    validate_event(ack, "model.reloaded")
    assert (ack["slot"], ack["model_version"], ack["ok"], ack["error"]) == (
        "prod",
        "v2",
        True,
        None,
    )
    assert str(ack["predictor_id"]).startswith("prod-")
    assert float(ack["load_ms"]) > 0
    print(f"\nreload load_ms: {ack['load_ms']}")
    assert len(answered) == len(ids)
    assert {e["status"] for _, e in answered} == {"ok"}
    assert [r["model_version"] for r in _ask(ns)] == ["v2"]


def test_tampered_model_is_refused_and_the_old_version_keeps_serving(
    ns: Namespace, prod: Worker
) -> None:
    # Given v3, whose model file was changed after publishing
    publish(ns, "v3", scale=3.0)
    tamper(ns, "v3")

    # When the slots name it and a reload is broadcast
    with reading(ns, "model_events", from_end=True) as events:
        slots = set_slots(ns, best="v3")
        broadcast_reload(ns, slots)
        acks = _acks(events, 0)  # still serving generation 0: the load failed

    # Then the ack says it failed, the log says why, and v1 keeps answering
    assert len(acks) == 1, prod.log()[-3000:]
    ack = acks[0]
    validate_event(ack, "model.reloaded")
    assert (ack["ok"], ack["model_version"]) == (False, "v1")
    assert ack["error"]["code"] == "integrity"
    assert "REFUSED model v3" in prod.log()
    assert "sha256" in prod.log()
    replies = _ask(ns, 3)
    assert [r["model_version"] for r in replies] == ["v1"] * 3
    assert {r["status"] for r in replies} == {"ok"}


def test_forged_manifest_is_refused_by_its_signature_and_the_old_version_keeps_serving(
    ns: Namespace, prod: Worker
) -> None:
    # Given v4, whose model and manifest were re-written with the shared S3 keys (the sha256
    # matches the new model; only the trainer's signature does not)
    publish(ns, "v4", scale=4.0)
    forge(ns, "v4", scale=40.0)

    # When the slots name it and a reload is broadcast
    with reading(ns, "model_events", from_end=True) as events:
        slots = set_slots(ns, best="v4")
        broadcast_reload(ns, slots)
        acks = _acks(events, 0)  # still serving generation 0: the load was refused

    # Then the ack says the signature failed, the log and the metrics say so, v1 answers
    assert len(acks) == 1, prod.log()[-3000:]
    ack = acks[0]
    validate_event(ack, "model.reloaded")
    assert (ack["ok"], ack["model_version"]) == (False, "v1")
    assert ack["error"]["code"] == "signature"
    assert "signature does not verify" in ack["error"]["message"]
    assert "REFUSED model v4" in prod.log()
    assert 'splitstream_predictor_errors_total{kind="reload"} 1.0' in prod.metrics()
    replies = _ask(ns, 3)
    assert [r["model_version"] for r in replies] == ["v1"] * 3
    assert {r["status"] for r in replies} == {"ok"}


def test_lost_broadcast_is_caught_up_by_the_periodic_re_read(ns: Namespace) -> None:
    with running_worker(ns, "prod", refresh_s=1.0) as worker:
        assert [r["model_version"] for r in _ask(ns)] == ["v1"]
        publish(ns, "v2", scale=2.0)

        # When the slots change and no reload is broadcast
        set_slots(ns, best="v2")

        # Then within a few re-read intervals the worker serves v2
        deadline = time.monotonic() + 15
        versions: list[Any] = []
        while time.monotonic() < deadline and versions != ["v2"]:
            versions = [r["model_version"] for r in _ask(ns)]
        assert versions == ["v2"], worker.log()[-3000:]
