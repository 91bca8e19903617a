"""A prod predictor subprocess on the real stack: replies, dead letters, domain errors, metrics."""

from collections.abc import Iterator

import pytest

from cli.settings import Settings
from schemas.registry import validate_event
from tests.integration.predictor_namespace import (
    Namespace,
    Worker,
    collect,
    expected_price,
    make_namespace,
    metric_value,
    predict_request,
    produce,
    publish,
    reading,
    running_worker,
    set_slots,
)


@pytest.fixture(scope="module")
def ns(stack: Settings) -> Namespace:
    namespace = make_namespace(stack)
    publish(namespace, "v1", scale=1.0)
    set_slots(namespace, best="v1")
    return namespace


@pytest.fixture(scope="module")
def prod(ns: Namespace) -> Iterator[Worker]:
    with running_worker(ns, "prod") as worker:
        yield worker


def test_prod_predictor_replies_on_each_requests_reply_partition(
    ns: Namespace, prod: Worker
) -> None:
    # Given requests naming each partition of the replies topic
    partitions = ns.settings.topic("predict_replies").partitions
    requests = [
        predict_request(ns, reply_partition=i % partitions, total_sqft=1000.0 + 100 * i)
        for i in range(2 * partitions)
    ]
    ids = {r["request_id"]: r for r in requests}

    # When they are produced to predict.requests.prod
    with reading(ns, "predict_replies") as replies:
        produce(ns, "predict_requests_prod", requests)
        got = collect(replies, lambda e: e.get("request_id") in ids, count=len(ids))

    # Then each reply is valid, on the named partition, and carries the model version
    assert len(got) == len(ids), prod.log()[-3000:]
    for partition, reply in got:
        request = ids[reply["request_id"]]
        validate_event(reply, "predict.reply")
        assert partition == request["reply_to"]["partition"]
        assert (reply["status"], reply["model_version"], reply["slot"]) == ("ok", "v1", "prod")
        assert reply["experiment_id"] == request["experiment_id"]
        assert reply["predictor_id"].startswith("prod-")
        assert reply["timings"]["batch_size"] >= 1
        assert reply["timings"]["queued_ms"] >= 0
        features = request["features"]
        assert reply["price_lakhs"] == pytest.approx(expected_price(1.0, **features), abs=0.01)


def test_malformed_requests_are_dead_lettered_and_the_next_request_is_served(
    ns: Namespace, prod: Worker
) -> None:
    # Given a non-JSON message, a wrong-schema request, and one without a reply address
    wrong_schema = predict_request(ns)
    wrong_schema["features"]["bhk"] = "two"
    no_reply = predict_request(ns)
    del no_reply["reply_to"]
    valid = predict_request(ns)

    # When they are produced ahead of a valid request
    with reading(ns, "deadletter") as dead, reading(ns, "predict_replies") as replies:
        produce(
            ns,
            "predict_requests_prod",
            [b"\xff\xfe not json", wrong_schema, no_reply, valid],
        )
        answered = collect(replies, lambda e: e.get("request_id") == valid["request_id"], count=1)
        letters = collect(
            dead,
            lambda e: e.get("source_topic") == ns.topic("predict_requests_prod"),
            count=3,
        )

    # Then each lands in the dead-letter topic with its reason, and the worker keeps serving
    assert len(answered) == 1, prod.log()[-3000:]
    assert answered[0][1]["status"] == "ok"
    by_type = {e["error_type"]: e for _, e in letters}
    assert sorted(by_type) == ["decode", "missing_header", "schema"]
    for event in by_type.values():
        validate_event(event, "deadletter.record")
        assert event["consumer"].startswith("prod-")
    assert "features.bhk" in by_type["schema"]["reason"]
    assert "reply_to" in by_type["missing_header"]["reason"]
    assert by_type["decode"]["payload_encoding"] == "base64"
    assert "dead-letter " + ns.topic("predict_requests_prod") + "[" in prod.log()


def test_out_of_domain_input_gets_an_error_reply(ns: Namespace, prod: Worker) -> None:
    unknown = predict_request(ns, location="Atlantis")
    too_big = predict_request(ns, total_sqft=99_000.0)
    ids = {unknown["request_id"]: "location", too_big["request_id"]: "total_sqft"}

    with reading(ns, "predict_replies") as replies:
        produce(ns, "predict_requests_prod", [unknown, too_big])
        got = collect(replies, lambda e: e.get("request_id") in ids, count=2)

    assert len(got) == 2, prod.log()[-3000:]
    for _, reply in got:
        validate_event(reply, "predict.reply")
        assert (reply["status"], reply["price_lakhs"]) == ("error", None)
        assert reply["error"]["code"] == "out_of_domain"
        assert reply["error"]["field"] == ids[reply["request_id"]]
        assert reply["model_version"] == "v1"


def test_metrics_report_batches_rows_and_the_loaded_model(ns: Namespace, prod: Worker) -> None:
    with reading(ns, "predict_replies") as replies:
        request = predict_request(ns)
        produce(ns, "predict_requests_prod", [request])
        collect(replies, lambda e: e.get("request_id") == request["request_id"], count=1)

    text = prod.metrics()
    assert metric_value(text, "splitstream_predictor_model_loaded", slot="prod") == 1.0
    info = {"slot": "prod", "version": "v1", "generation": "0"}
    assert metric_value(text, "splitstream_predictor_model_info", **info) == 1.0
    assert (metric_value(text, "splitstream_predictor_rows_total", slot="prod") or 0) >= 1
    assert (metric_value(text, "splitstream_predictor_batches_total", role="prod") or 0) >= 1
    assert "splitstream_predictor_predict_seconds_bucket" in text
