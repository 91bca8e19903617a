"""The gateway as a real process against the real stack, with an echo predictor answering.

Each module run gets its own topic prefix and bucket, so no other test sees its messages.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from cli.settings import Settings, load_settings
from clients.ledger_reader import read_ledger
from clients.split_store import SplitStore
from plumbing.errors import SlotConflictError
from plumbing.kafka import encode_json
from plumbing.kafka_security import client_security
from plumbing.model_store import SlotStore
from plumbing.s3 import s3_client
from pricing.split import bucket_of
from schemas import registry
from schemas.serving_events import PredictReply
from stack.ports import free_port, port_is_free
from tests.integration.echo_gateway import (
    CANDIDATE_VERSION,
    PROD_VERSION,
    SILENT_PREFIX,
    EchoPredictor,
    GatewayProcess,
    echo_price,
    ensure_topics,
    gateway_env,
    publish_models,
    run_gateway,
)
from tests.integration.promoter_thread import running_promoter

LISTING = {"location": "Whitefield", "total_sqft": 1200, "bath": 2, "bhk": 2}
#: The main gateway's safety-net re-read of the slots (a slot change without any event).
ROUTING_REFRESH_S = 2.0


@pytest.fixture(scope="module")
def gw_settings(stack: Settings) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    settings = load_settings(topic_prefix=f"gw{suffix}.", s3_bucket=f"gw-{suffix}")
    ensure_topics(settings)
    publish_models(settings)
    return settings


@pytest.fixture(scope="module")
def echo(gw_settings: Settings) -> Iterator[EchoPredictor]:
    predictor = EchoPredictor(gw_settings)
    predictor.start()
    try:
        yield predictor
    finally:
        predictor.stop()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-run")


@pytest.fixture(scope="module")
def gateway(gw_settings: Settings, echo: EchoPredictor, run_dir: Path) -> Iterator[GatewayProcess]:
    env = gateway_env(
        gw_settings,
        SPLITSTREAM_GATEWAY_REPLY_PARTITION="0",
        SPLITSTREAM_GATEWAY_ROUTING_REFRESH_S=str(ROUTING_REFRESH_S),
    )
    with run_gateway("gateway-p0", run_dir, env) as process:
        yield process


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10.0) as http:
        yield http


def _admin(settings: Settings) -> dict[str, str]:
    assert settings.admin_token is not None
    return {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}


def _metric(text: str, name: str) -> float:
    """Sum of every sample of ``name`` (all label sets) in Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _predict_many(url: str, keys: list[str], *, concurrency: int = 16) -> list[Any]:
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def one(key: str) -> Any:
            async with limit, http.post("/v1/predict", json={**LISTING, "key": key}) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        return await asyncio.gather(*(one(key) for key in keys))


# --------------------------------------------------------------------------- predict


def test_predict_answers_price_variant_model_and_experiment(
    client: httpx.Client, echo: EchoPredictor
) -> None:
    response = client.post("/v1/predict", json={**LISTING, "key": "user-1"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"request_id", "price_lakhs", "variant", "model_version", "experiment_id"}
    expected_model = {"prod": PROD_VERSION, "candidate": CANDIDATE_VERSION}[body["variant"]]
    assert body["model_version"] == expected_model
    assert body["experiment_id"] == f"exp-1:{CANDIDATE_VERSION}"
    request = next(r for r in echo.requests if r["request_id"] == body["request_id"])
    assert body["price_lakhs"] == echo_price(request["features"], body["variant"])
    registry.validate_event(request, "predict.request")
    assert request["assignment"] == "hashed" and request["split_key"] == "user-1"


def test_location_ignores_case_and_spaces_and_accepts_grouped_names(
    client: httpx.Client, echo: EchoPredictor
) -> None:
    spaced = client.post("/v1/predict", json={**LISTING, "location": "  WhiteFIELD "})
    assert spaced.status_code == 200
    grouped = client.post("/v1/predict", json={**LISTING, "location": "Rajaji Nagar"})
    assert grouped.status_code == 200  # seen in training, grouped as "other"
    sent = {r["request_id"]: r["features"]["location"] for r in echo.requests}
    assert sent[spaced.json()["request_id"]] == "whitefield"
    assert sent[grouped.json()["request_id"]] == "rajaji nagar"


def test_unknown_location_is_422_with_the_nearest_known_ones(client: httpx.Client) -> None:
    response = client.post("/v1/predict", json={**LISTING, "location": "Whitfield"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "out_of_domain"
    assert error["field"] == "location"
    assert "whitefield" in error["allowed"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bhk": None}, "bhk"),
        ({"bath": "two"}, "bath"),
        ({"total_sqft": -10}, "total_sqft"),
        ({"total_sqft": 10_000_000}, "total_sqft"),
        ({"total_sqft": 100}, "total_sqft"),  # valid, but below the trained range
        ({"bhk": 40}, "bhk"),  # valid, but above the trained range
    ],
)
def test_invalid_or_out_of_domain_input_is_422_naming_the_field(
    client: httpx.Client, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**LISTING, **change}.items() if v is not None}
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field
    assert error["allowed"] is not None


def test_oversized_body_is_413(client: httpx.Client, gw_settings: Settings) -> None:
    big = {**LISTING, "key": "k", "padding": "x" * (gw_settings.max_body_bytes + 1)}
    response = client.post("/v1/predict", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_no_reply_is_504_within_the_deadline(client: httpx.Client, gw_settings: Settings) -> None:
    started = time.monotonic()
    response = client.post("/v1/predict", json={**LISTING, "key": f"{SILENT_PREFIX}{uuid.uuid4()}"})
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "reply_timeout"
    assert gw_settings.reply_timeout_s <= elapsed < gw_settings.reply_timeout_s + 0.5
    metrics = client.get("/metrics").text
    assert _metric(metrics, "splitstream_gateway_reply_timeouts_total") >= 1
    assert _metric(metrics, "splitstream_gateway_in_flight_requests") == 0


# --------------------------------------------------------------------------- split


def test_same_key_gets_the_same_variant_from_body_or_header(client: httpx.Client) -> None:
    for key in ("alice", "bob", "carol", "dave"):
        body_variants = {
            client.post("/v1/predict", json={**LISTING, "key": key}).json()["variant"]
            for _ in range(3)
        }
        header = client.post("/v1/predict", json=LISTING, headers={"X-Split-Key": key})
        assert body_variants == {header.json()["variant"]}


def test_2000_keys_split_20_percent_to_the_candidate(gateway: GatewayProcess) -> None:
    keys = [f"user-{i}" for i in range(2000)]
    answers = asyncio.run(_predict_many(gateway.url, keys))
    share = sum(a["variant"] == "candidate" for a in answers) / len(answers)
    assert 0.175 <= share <= 0.225
    # Each key got exactly the variant its hash bucket names.
    experiment = answers[0]["experiment_id"]
    for key, answer in zip(keys, answers, strict=True):
        expected = "candidate" if bucket_of(experiment, key) < 2000 else "prod"
        assert answer["variant"] == expected, key


def test_share_zero_via_admin_sends_everything_to_prod(
    client: httpx.Client, gateway: GatewayProcess, gw_settings: Settings
) -> None:
    assert client.put("/v1/admin/split", json={"candidate_share": 0.0}).status_code == 401
    wrong = client.put(
        "/v1/admin/split",
        json={"candidate_share": 0.0},
        headers={"Authorization": "Bearer not-the-token"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"
    # A share change is a command the promoter executes (and records in its ledger)
    with running_promoter(gw_settings):
        try:
            done = client.put(
                "/v1/admin/split", json={"candidate_share": 0.0}, headers=_admin(gw_settings)
            )
            assert done.status_code == 200, done.text
            assert done.json()["candidate_share"] == 0.0
            experiment = client.get("/v1/experiment").json()
            assert experiment["candidate_share"] == 0.0 and experiment["share_source"] == "s3"
            answers = asyncio.run(_predict_many(gateway.url, [f"zero-{i}" for i in range(200)]))
            assert {a["variant"] for a in answers} == {"prod"}
        finally:
            restored = client.put(
                "/v1/admin/split", json={"candidate_share": 0.2}, headers=_admin(gw_settings)
            )
            assert restored.status_code == 200
    splits = [r for r in read_ledger(gw_settings) if r.action == "split"]
    assert [r.inputs["share_change"]["after"] for r in splits][-2:] == [0.0, 0.2]
    assert splits[-1].actor.kind == "operator"


# --------------------------------------------------------------------------- instances, Kafka


def test_two_instances_each_get_only_their_own_replies(
    gateway: GatewayProcess, gw_settings: Settings, echo: EchoPredictor, run_dir: Path
) -> None:
    env = gateway_env(gw_settings, SPLITSTREAM_GATEWAY_REPLY_PARTITION="1")
    with run_gateway("gateway-p1", run_dir, env) as second:
        dropped_before = [
            _metric(httpx.get(f"{g.url}/metrics").text, "splitstream_gateway_replies_dropped_total")
            for g in (gateway, second)
        ]

        async def both() -> list[list[Any]]:
            keys = [f"pair-{i}" for i in range(100)]
            return list(
                await asyncio.gather(
                    _predict_many(gateway.url, keys), _predict_many(second.url, keys)
                )
            )

        first_answers, second_answers = asyncio.run(both())
        reply_partition = {r["request_id"]: r["reply_to"]["partition"] for r in echo.requests}
        assert {reply_partition[a["request_id"]] for a in first_answers} == {0}
        assert {reply_partition[a["request_id"]] for a in second_answers} == {1}
        # Neither instance read a reply that was not its own.
        for process, before in zip((gateway, second), dropped_before, strict=True):
            text = httpx.get(f"{process.url}/metrics").text
            assert _metric(text, "splitstream_gateway_replies_dropped_total") == before

        # A reply nobody waits for is dropped, and the instance keeps serving.
        _send_stray_reply(gw_settings, partition=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = httpx.get(f"{second.url}/metrics").text
            if _metric(text, "splitstream_gateway_replies_dropped_total") > dropped_before[1]:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the stray reply was not dropped")
        again = httpx.post(f"{second.url}/v1/predict", json=LISTING, timeout=10)
        assert again.status_code == 200


def _send_stray_reply(settings: Settings, *, partition: int) -> None:
    reply = PredictReply.create(
        request_id=str(uuid.uuid4()),
        experiment_id="exp-1:stray",
        variant="prod",
        slot="prod",
        shadow=False,
        model_version=PROD_VERSION,
        status="ok",
        price_lakhs=1.0,
        error=None,
        predictor_id="stray",
        timings={"queued_ms": 0.0, "predict_ms": 0.0, "batch_size": 1},
    )
    predictor = client_security(settings.as_kafka_role("predictor"), "kafka-python")
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, **predictor)
    try:
        topic = settings.topic("predict_replies").name
        value = encode_json(reply.model_dump(mode="json"))
        producer.send(topic, value, partition=partition).get(10)
    finally:
        producer.close(timeout=5)


def test_kafka_unreachable_is_503_at_once_and_not_ready(
    gw_settings: Settings, run_dir: Path
) -> None:
    env = gateway_env(
        gw_settings,
        SPLITSTREAM_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        SPLITSTREAM_GATEWAY_REPLY_PARTITION="2",
    )
    with run_gateway("gateway-no-kafka", run_dir, env, wait_ready_s=0) as process:
        deadline = time.monotonic() + 20
        while httpx.get(f"{process.url}/v1/experiment").json()["versions"]["prod"] is None:
            assert time.monotonic() < deadline, "the slots were never read"
            time.sleep(0.2)
        started = time.monotonic()
        response = httpx.post(f"{process.url}/v1/predict", json=LISTING, timeout=10)
        assert time.monotonic() - started < 1.0
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "kafka_unavailable"
        ready = httpx.get(f"{process.url}/readyz")
        assert ready.status_code == 503
        assert any(reason.startswith("kafka") for reason in ready.json()["reasons"])


def test_past_max_in_flight_is_503_at_once_with_retry_after(
    gw_settings: Settings, echo: EchoPredictor, run_dir: Path
) -> None:
    env = gateway_env(
        gw_settings,
        SPLITSTREAM_GATEWAY_REPLY_PARTITION="3",
        SPLITSTREAM_GATEWAY_MAX_IN_FLIGHT="2",
    )
    with run_gateway("gateway-bounded", run_dir, env) as process:

        async def scenario() -> tuple[list[int], int, dict[str, Any], str | None, float]:
            async with aiohttp.ClientSession(process.url) as http:

                async def silent() -> int:  # no reply comes: held until the 504
                    body = {**LISTING, "key": f"{SILENT_PREFIX}{uuid.uuid4()}"}
                    async with http.post("/v1/predict", json=body) as response:
                        return response.status

                held = [asyncio.create_task(silent()) for _ in range(2)]
                await asyncio.sleep(0.5)
                started = time.monotonic()
                async with http.post(
                    "/api/predict_home_price", data={k: str(v) for k, v in LISTING.items()}
                ) as refused:
                    body = await refused.json()
                    elapsed = time.monotonic() - started
                    retry_after = refused.headers.get("Retry-After")
                    status = refused.status
                return list(await asyncio.gather(*held)), status, body, retry_after, elapsed

        held, status, body, retry_after, elapsed = asyncio.run(scenario())
        assert held == [504, 504]
        assert status == 503 and retry_after == "1"
        assert body["error"]["code"] == "overloaded"
        assert body["error"]["allowed"] == {"max_in_flight": 2}
        assert elapsed < 0.5  # refused at once, not after the deadline
        metrics = httpx.get(f"{process.url}/metrics").text
        assert _metric(metrics, "splitstream_gateway_refused_total") == 1
        assert httpx.post(f"{process.url}/v1/predict", json=LISTING).status_code == 200


def test_two_workers_share_the_port_each_owning_its_reply_partition(
    gw_settings: Settings, echo: EchoPredictor, run_dir: Path
) -> None:
    metrics_port = _two_free_ports()
    env = gateway_env(
        gw_settings,
        SPLITSTREAM_GATEWAY_REPLY_PARTITION="4",
        SPLITSTREAM_GATEWAY_WORKERS="2",
        SPLITSTREAM_GATEWAY_METRICS_PORT=str(metrics_port),
    )
    with run_gateway("gateway-workers", run_dir, env) as process:
        deadline = time.monotonic() + 60
        while True:  # both workers ready: every answer of a burst of fresh connections is 200
            codes = {httpx.get(f"{process.url}/readyz").status_code for _ in range(20)}
            if codes == {200}:
                break
            assert time.monotonic() < deadline, f"workers not ready: {codes}"
            time.sleep(0.5)
        answers = [
            httpx.post(f"{process.url}/v1/predict", json={**LISTING, "key": f"w-{i}"})
            for i in range(100)
        ]  # one connection each: the kernel spreads them over the workers
        assert {a.status_code for a in answers} == {200}
        reply_partition = {r["request_id"]: r["reply_to"]["partition"] for r in echo.requests}
        used = {reply_partition[a.json()["request_id"]] for a in answers}
        assert used == {4, 5}
        # And each worker counts its own answers on its own metrics port: together, all
        served = [_served_by_worker(metrics_port + i) for i in range(2)]
        assert all(n > 0 for n in served) and sum(served) == 100, served


def _two_free_ports() -> int:
    """A port whose next one is free too."""
    while True:
        port = free_port()
        if port_is_free(port + 1):
            return port


def _served_by_worker(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("splitstream_gateway_requests_total{") and 'status="200"' in line
    )


# --------------------------------------------------------------------------- other endpoints


def test_feedback_is_published_to_the_feedback_topic(
    client: httpx.Client, gw_settings: Settings
) -> None:
    request_id = client.post("/v1/predict", json=LISTING).json()["request_id"]
    accepted = client.post(
        "/v1/feedback", json={"request_id": request_id, "actual_price_lakhs": 80.5}
    )
    assert accepted.status_code == 202
    legacy = client.post(
        "/api/feedback",
        json={"prediction_id": request_id, "feedback_type": "too_high", "feedback_text": "hm"},
    )
    assert legacy.status_code == 200
    assert legacy.json()["status"] == "recorded"

    events = _read_topic(gw_settings.topic("feedback").name, gw_settings, want=2, key=request_id)
    by_source = {e["source"]: e for e in events}
    assert by_source["http"]["actual_price_lakhs"] == 80.5
    assert by_source["http"]["feedback_type"] == "actual_price"
    assert by_source["legacy_api"]["actual_price_lakhs"] is None
    assert by_source["legacy_api"]["feedback_type"] == "too_high"
    assert by_source["legacy_api"]["note"] == "hm"
    for event in events:
        registry.validate_event(event, "feedback")


def _read_topic(topic: str, settings: Settings, *, want: int, key: str) -> list[dict[str, Any]]:
    sink = client_security(settings.as_kafka_role("sink"), "kafka-python")  # reads feedback
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, **sink)
    try:
        partitions = [
            TopicPartition(topic, p) for p in range(settings.topic("feedback").partitions)
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 15
        while len(found) < want and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                found += [
                    event
                    for event in (json.loads(r.value) for r in records)
                    if event["request_id"] == key
                ]
        return found
    finally:
        consumer.close()


def test_legacy_api_keeps_the_old_fields(client: httpx.Client) -> None:
    locations = client.get("/api/get_location_names").json()
    assert locations == {"locations": sorted(locations["locations"])}
    assert "whitefield" in locations["locations"]
    form = {"total_sqft": "1200", "location": "Electronic City", "bhk": "3", "bath": "2"}
    answer = client.post("/api/predict_home_price", data=form)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"estimated_price", "prediction_id", "response_time_ms", "variant"}
    assert isinstance(body["estimated_price"], float) and body["response_time_ms"] > 0
    missing = client.post("/api/feedback", json={"prediction_id": body["prediction_id"]})
    assert missing.status_code == 400
    assert missing.json()["error"]["field"] == "feedback_type"
    no_value = client.post(
        "/api/feedback",
        json={"prediction_id": body["prediction_id"], "feedback_type": "actual_price"},
    )
    assert no_value.status_code == 400
    assert no_value.json()["error"]["field"] == "feedback_value"
    recorded = client.post(
        "/api/feedback",
        json={
            "prediction_id": body["prediction_id"],
            "feedback_type": "actual_price",
            "feedback_value": 95.0,
        },
    )
    assert recorded.status_code == 200
    health = client.get("/api/health").json()
    assert set(health) == {"status", "timestamp", "model_variant", "system"}
    assert health["status"] == "healthy" and health["model_variant"] == PROD_VERSION
    metrics = client.get("/api/metrics").json()
    assert set(metrics) == {"variant", "predictions", "feedback", "timestamp"}
    assert metrics["predictions"] >= 1 and metrics["feedback"] >= 1


def test_locations_experiment_ready_and_metrics(client: httpx.Client) -> None:
    assert client.get("/v1/locations").json()["locations"] == [
        "electronic city",
        "kengeri",
        "other",
        "rajaji nagar",
        "whitefield",
    ]
    experiment = client.get("/v1/experiment").json()
    assert experiment["versions"] == {"prod": PROD_VERSION, "candidate": CANDIDATE_VERSION}
    assert experiment["experiment_id"] == f"exp-1:{CANDIDATE_VERSION}"
    assert experiment["slots"]["best"] == PROD_VERSION
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    client.post("/v1/predict", json={**LISTING, "key": "metrics-check"})
    text = client.get("/metrics").text
    assert 'splitstream_gateway_requests_total{api="v1",status="200",variant="prod"}' in text
    assert "splitstream_gateway_request_latency_seconds_bucket" in text
    assert "splitstream_gateway_in_flight_requests" in text
    assert "splitstream_gateway_reply_timeouts_total" in text
    assert _metric(text, "splitstream_gateway_kafka_up") == 1


def test_split_store_writes_are_conditional(gw_settings: Settings) -> None:
    store = SplitStore(
        s3_client(gw_settings), gw_settings.s3_bucket, key=f"control/split-{uuid.uuid4()}.json"
    )
    assert store.read() is None
    first = store.write(0.3)
    second = store.write(0.4)
    assert (first.generation, second.generation) == (1, 2)
    with pytest.raises(SlotConflictError):
        store.put(0.9, first)  # a writer holding a stale ETag loses
    with pytest.raises(SlotConflictError):
        store.put(0.9, None)  # the first write must not overwrite an existing split
    stored = store.read()
    assert stored is not None and stored.candidate_share == 0.4


def test_slot_change_is_followed_within_the_refresh_interval(
    client: httpx.Client, gateway: GatewayProcess, gw_settings: Settings
) -> None:
    # Given the candidate is withdrawn from the slots (as a rejection would do)
    slots = SlotStore(s3_client(gw_settings), gw_settings.s3_bucket)
    current = slots.read()
    assert current is not None
    slots.swap(current, current.slots.next(candidate=None))
    try:
        # Then the gateway follows within the refresh interval, and all traffic is prod
        deadline = time.monotonic() + ROUTING_REFRESH_S + 3
        while client.get("/v1/experiment").json()["candidate_available"]:
            assert time.monotonic() < deadline, "the gateway did not re-read the slots"
            time.sleep(0.1)
        assert client.get("/v1/experiment").json()["experiment_id"] == "exp-1:prod-only"
        answers = asyncio.run(_predict_many(gateway.url, [f"solo-{i}" for i in range(100)]))
        assert {a["variant"] for a in answers} == {"prod"}
    finally:
        now = slots.read()
        assert now is not None
        slots.swap(now, now.slots.next(candidate=CANDIDATE_VERSION))
