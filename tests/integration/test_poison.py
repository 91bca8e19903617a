"""Poison on every topic Splitstream consumes: what the other integration tests do not send.

Already covered elsewhere, and not repeated here:
- predictor: not JSON, wrong schema, no reply address (test_predictor_serving);
- batch scorer: not JSON, wrong schema (test_batch_scoring);
- sink: not JSON or wrong schema on four topics, a tombstone, a malformed dead letter
  (test_sink);
- stream agent: not JSON, not an object, the wrong event, an invalid one (test_promoter_agent).

Here each consumer gets an empty value, a huge message (900 KB, under the broker's
1 MiB limit) and JSON nested too deeply to parse (it used to stop a predictor and a
gateway's reply listener: json.loads raised RecursionError), the sink gets them on
every topic, and the two listeners that do not
dead-letter (the promoter on model.events, a gateway on its reply partition) get them
too. The rule they follow: a topic's owner dead-letters (predictors their request
topics, the scorer score.requests, the sink every topic), a listener skips and logs,
since the sink already keeps one dead letter per poison message.
After the poison, a valid message is still processed: no consumer stopped.
"""

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.settings import Settings, load_settings
from clients.promoter_commands import send_command
from clients.scorer import score_requests
from plumbing import kafka
from plumbing.settings import PROJECT_ROOT
from schemas.registry import TABLES_SQL, validate_event
from schemas.serving_events import ScoreRequest
from stack import supervisor
from stack.ports import free_port
from stack.supervisor import ServiceProcess
from tests.integration.echo_gateway import (
    EchoPredictor,
    ensure_topics,
    gateway_env,
    publish_models,
    run_gateway,
)
from tests.integration.predictor_namespace import (
    Namespace,
    collect,
    make_namespace,
    predict_request,
    produce,
    publish,
    reading,
    running_worker,
    set_slots,
)
from tests.integration.test_sink import _sink_world

HUGE_BYTES = 900_000
NESTED = b"[" * 100_000  # JSON's start, nested past the interpreter's recursion limit
EXAMPLES = TABLES_SQL.parent.parent / "examples"


def _huge_request(ns: Namespace) -> dict[str, Any]:
    """A predict.request of about 900 KB whose bhk is a string: valid JSON, wrong schema."""
    request = predict_request(ns)
    request["features"]["bhk"] = "9" * HUGE_BYTES
    return request


def _poison_letters(
    ns: Namespace, topic_key: str, poison: list[Any], then: Callable[[], Any]
) -> tuple[list[dict[str, Any]], Any]:
    """Produce ``poison`` to a topic, run ``then`` (a valid message's round trip), and
    return the dead letters of that topic with what ``then`` returned."""
    with reading(ns, "deadletter") as dead:
        produce(ns, topic_key, poison)
        answer = then()
        letters = collect(
            dead, lambda e: e.get("source_topic") == ns.topic(topic_key), count=len(poison)
        )
    return [event for _, event in letters], answer


def _assert_poison_letters(letters: list[dict[str, Any]], consumer: str) -> None:
    """The dead letters of an empty, a too deeply nested, and a huge wrong-schema message."""
    empty, nested, huge = sorted(letters, key=lambda e: e["payload_bytes"])
    assert (empty["payload_bytes"], nested["payload_bytes"]) == (0, len(NESTED))
    assert nested["error_type"] == "decode" and "nested too deeply" in nested["reason"]
    for letter in letters:
        validate_event(letter, "deadletter.record")
        assert letter["consumer"].startswith(consumer) and letter["reason"]
    assert empty["error_type"] == "decode" and "JSON" in empty["reason"]
    assert huge["error_type"] == "schema" and "bhk" in huge["reason"]
    assert huge["payload_bytes"] > HUGE_BYTES and huge["payload_truncated"] is True
    assert len(json.dumps(huge)) < 100_000  # the dead letter is not itself huge


# --------------------------------------------------------------------------- owners


@pytest.fixture(scope="module")
def ns(stack: Settings) -> Namespace:
    namespace = make_namespace(stack)
    publish(namespace, "v1", scale=1.0)
    set_slots(namespace, best="v1")
    return namespace


def test_predictor_dead_letters_empty_nested_and_huge_requests_and_serves_the_next(
    ns: Namespace,
) -> None:
    valid = predict_request(ns)
    with running_worker(ns, "prod") as worker, reading(ns, "predict_replies") as replies:

        def served() -> list[tuple[int, dict[str, Any]]]:
            produce(ns, "predict_requests_prod", [valid])
            return collect(replies, lambda e: e.get("request_id") == valid["request_id"], count=1)

        letters, answered = _poison_letters(
            ns, "predict_requests_prod", [b"", NESTED, _huge_request(ns)], served
        )
        log = worker.log()
    assert len(letters) == 3, log[-3000:]
    _assert_poison_letters(letters, "prod-")
    assert [reply["status"] for _, reply in answered] == ["ok"], log[-3000:]


def test_scorer_dead_letters_empty_nested_and_huge_rows_and_scores_the_next(ns: Namespace) -> None:
    huge = {"id": "huge", "location": "hebbal", "total_sqft": 1200.0, "bath": 2}
    huge["bhk"] = "9" * HUGE_BYTES
    row = ScoreRequest(
        id=f"ok-{uuid.uuid4().hex[:6]}", location="hebbal", total_sqft=1200.0, bath=2, bhk=2
    )
    with running_worker(ns, "score") as worker:
        letters, (results, report) = _poison_letters(
            ns,
            "score_requests",
            [b"", NESTED, huge],
            lambda: score_requests(ns.settings.as_kafka_role("batch"), [row], timeout_s=30),
        )
        log = worker.log()
    assert len(letters) == 3, log[-3000:]
    _assert_poison_letters(letters, "score-")
    assert report.missing == [] and results[row.id]["status"] == "ok"


# --------------------------------------------------------------------------- the sink


def _example_event(name: str, **changes: Any) -> bytes:
    event = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    if "event_id" in event:
        event["event_id"] = str(uuid.uuid4())
    return json.dumps({**event, **changes}).encode()


#: One valid event per topic the sink stores, after the poison.
VALID_AFTER_POISON = {
    "predict_requests_prod": "predict.request/valid/random_shadow",
    "predict_requests_candidate": "predict.request/valid/hashed_http",
    "predict_replies": "predict.reply/valid/ok",
    "score_requests": "score.request/valid/minimal",
    "score_results": "score.result/valid/ok",
    "feedback": "feedback/valid/actual_price",
    "model_events": "model.reload/valid/promote",
    "promoter_commands": "promoter.command/valid/promote",
    "promoter_ledger": "ledger.record/valid/promote",
}


def test_sink_dead_letters_empty_nested_and_huge_messages_on_every_topic_and_keeps_storing(
    stack: Settings, tmp_path: Path
) -> None:
    with _sink_world(tmp_path) as run:
        # Given an empty, a too deeply nested and a huge (not JSON) message on every
        # topic the sink reads,
        # then one valid event per topic
        topics = [spec for spec in run.settings.topics() if spec.key != "deadletter"]
        assert {spec.key for spec in topics} == set(VALID_AFTER_POISON)
        huge = b"\xff" + b"x" * HUGE_BYTES
        # (as the admin: no one principal writes every topic)
        sender = kafka.producer(run.settings.as_kafka_role("admin"), value_serializer=None)
        try:
            for spec in topics:
                for value in (b"", NESTED, huge):
                    sender.send(spec.name, value=value)
            for value in (b"", NESTED, huge):  # the dead-letter topic's own poison is only skipped
                sender.send(run.topic("deadletter"), value=value)
            for key, example in VALID_AFTER_POISON.items():
                served = {"request_id": run.served_id()} if key == "feedback" else {}
                sender.send(run.topic(key), value=_example_event(example, **served))
            sender.flush(timeout=30)
        finally:
            sender.close(timeout=5)

        # When the sink runs
        run.start()
        letters_sql = "SELECT count() FROM $db.deadletters FINAL"
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and run.count(letters_sql) < 3 * len(topics):
            time.sleep(0.3)

        # Then each poison message is one dead letter with its reason, on every topic
        stored = run.reader().query_df(
            f"SELECT source_topic, error_type, reason, payload_bytes, payload_truncated "
            f"FROM {run.db}.deadletters FINAL"
        )
        assert len(stored) == 3 * len(topics), run.service.log_file.read_text()[-3000:]
        assert set(stored["source_topic"]) == {spec.name for spec in topics}
        assert set(stored["error_type"]) == {"decode"}
        assert (stored["reason"].str.len() > 0).all()
        assert sorted(set(stored["payload_bytes"])) == [0, len(NESTED), len(huge)]
        nested = stored[stored["payload_bytes"] == len(NESTED)]
        assert nested["reason"].str.contains("nested too deeply").all()
        assert stored[stored["payload_bytes"] == len(huge)]["payload_truncated"].all()

        # And the valid event after the poison is stored on every topic
        for key in VALID_AFTER_POISON:
            table = run.settings.topic(key).table
            assert run.count(f"SELECT count() FROM $db.{table} FINAL") >= 1, table
        metrics = httpx.get(f"{run.url}/metrics", timeout=5).text
        assert 'splitstream_sink_skipped_total{reason="malformed_dead_letter"} 3.0' in metrics


# --------------------------------------------------------------------------- listeners


def _promoter_process(ns: Namespace) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        name=f"promoter-{uuid.uuid4().hex[:6]}",
        command=[sys.executable, "-m", "cli", "promoter"],
        ports=[port],
        log_file=ns.workdir / "promoter.log",
        run_dir=ns.workdir / "run",
        is_ready=lambda: _answers(f"http://127.0.0.1:{port}/metrics"),
        start_timeout_s=60,
        env={
            "SPLITSTREAM_TOPIC_PREFIX": ns.prefix,
            "SPLITSTREAM_S3_BUCKET": ns.bucket,
            "SPLITSTREAM_PROMOTER_METRICS_PORT": str(port),
            "SPLITSTREAM_SINK_PORT": str(free_port()),  # no sink: evaluations just fail
            "PYTHONUNBUFFERED": "1",
        },
        cwd=PROJECT_ROOT,
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_promoter_skips_poison_on_model_events_and_still_answers_a_command(
    ns: Namespace,
) -> None:
    # Given a running promoter, and poison of every kind on model.events, and malformed
    # commands on the commands topic
    poison = [
        b"",
        b"\xff not json",
        b"[1, 2, 3]",
        NESTED,
        {"event_type": "experiment.trigger"},  # no experiment, no counts
    ]
    bad_commands = [
        {"event_type": "promoter.command", "action": "promote"},  # no id, no operator
        {"event_type": "promoter.command", "padding": "x" * HUGE_BYTES},
    ]
    process = _promoter_process(ns)
    supervisor.start(process)
    try:
        produce(ns, "model_events", poison)
        produce(ns, "promoter_commands", bad_commands)
        # When an operator sends a command after it
        result = send_command(
            ns.settings.as_kafka_role("operator"),
            action="pause",
            operator="poison-test",
            reason="after poison",
        )
        log = process.log_file.read_text(errors="replace")
        # Then the promoter answered it, and logged the malformed commands
        assert result.outcome in ("done", "refused"), log[-3000:]
        assert supervisor.status(process).state == "running", log[-3000:]
        assert log.count("is malformed") == 2, log[-3000:]
    finally:
        supervisor.stop(process)


def _metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


@pytest.fixture
def gateway_world(stack: Settings) -> Iterator[Settings]:
    suffix = uuid.uuid4().hex[:10]
    settings = load_settings(topic_prefix=f"pz{suffix}.", s3_bucket=f"pz-{suffix}")
    ensure_topics(settings)
    publish_models(settings, candidate=False)
    echo = EchoPredictor(settings)
    echo.start()
    try:
        yield settings
    finally:
        echo.stop()


def test_gateway_drops_poison_on_its_reply_partition_and_keeps_answering(
    gateway_world: Settings, tmp_path: Path
) -> None:
    settings = gateway_world
    listing = {"location": "Whitefield", "total_sqft": 1200, "bath": 2, "bhk": 2}
    with run_gateway("gateway-poison", tmp_path, gateway_env(settings)) as gateway:
        assert httpx.post(f"{gateway.url}/v1/predict", json=listing).status_code == 200
        metric = "splitstream_gateway_replies_dropped_total"
        before = _metric(httpx.get(f"{gateway.url}/metrics").text, metric)
        # Given poison on the gateway's own reply partition
        poison = [b"", b"\xff not json", b"[1, 2, 3]", b'{"request_id": "x"}', NESTED]
        poison.append(json.dumps({"padding": "x" * HUGE_BYTES}).encode())
        sender = kafka.producer(settings.as_kafka_role("predictor"), value_serializer=None)
        try:
            for value in poison:
                sender.send(settings.topic("predict_replies").name, value=value, partition=0)
            sender.flush(timeout=30)
        finally:
            sender.close(timeout=5)

        # Then each is dropped (counted, logged) and the next prediction is answered
        deadline = time.monotonic() + 15
        dropped = 0.0
        while time.monotonic() < deadline:
            dropped = _metric(httpx.get(f"{gateway.url}/metrics").text, metric) - before
            if dropped >= len(poison):
                break
            time.sleep(0.2)
        assert dropped == len(poison), gateway.log[-3000:]
        answer = httpx.post(f"{gateway.url}/v1/predict", json=listing)
        assert answer.status_code == 200, answer.text
        assert gateway.log.count("dropping undecodable reply") == len(poison)
