"""The request path end to end: trainer → S3 slots → predictors ⇄ Kafka ⇄ gateway.

Every process here is real: the services run as `splitstream` subprocesses on the
session's Kafka, S3 and MLflow, in a bucket and under a topic prefix of their own.
"""

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import pytest
from kafka import KafkaConsumer

from cli.settings import Settings, load_settings
from plumbing.kafka import producer
from plumbing.kafka_security import client_security
from plumbing.model_store import ModelStore, SlotStore
from plumbing.s3 import s3_client
from schemas.model_events import ModelReload
from stack import kafka_access, services, supervisor
from stack.ports import free_port
from tests.integration.listings import listings, malformed_fields, unexpected
from tests.integration.promoter_thread import running_promoter
from trainer.main import train_and_publish
from trainer.signing import manifest_signer

REQUEST = {"location": "1st Block Jayanagar", "total_sqft": 1000, "bath": 2, "bhk": 2}


@pytest.fixture(scope="module")
def serving(stack: Settings) -> Iterator[Settings]:
    """Best and candidate models trained into a fresh bucket, and every service running."""
    suffix = uuid.uuid4().hex[:8]
    env = {
        "SPLITSTREAM_S3_BUCKET": f"e2e-{suffix}",
        "SPLITSTREAM_TOPIC_PREFIX": f"e2e-{suffix}.",
        "SPLITSTREAM_GATEWAY_PORT": str(free_port()),
        "SPLITSTREAM_REPLY_TIMEOUT_S": "2.0",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        settings = load_settings()
        s3_client(settings).create_bucket(Bucket=settings.s3_bucket)
        kafka_access.provision(settings)
        train_and_publish(settings, target_slot="best", algorithms=("lasso",))
        train_and_publish(settings, target_slot="candidate", algorithms=("ridge",))
        try:
            services.up(settings, only=services.SERVING)
            _wait_for_candidate(settings)
            yield settings
        finally:
            services.down(settings)


def _base(settings: Settings) -> str:
    return f"http://{settings.gateway_host}:{settings.gateway_port}"


def _wait_for_candidate(settings: Settings) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = httpx.get(f"{_base(settings)}/v1/experiment", timeout=5)
        ready = httpx.get(f"{_base(settings)}/readyz", timeout=5)
        if ready.status_code == 200 and answer.json()["slots"]["candidate"]:
            return
        time.sleep(0.5)
    raise AssertionError("the gateway never routed to a candidate")


@dataclass(frozen=True)
class Answer:
    sent_at: float
    status: int
    body: dict[str, Any]
    waited_s: float


async def _predict_many(
    base: str, bodies: list[dict[str, Any]], *, rate_per_s: float | None = None
) -> list[Answer]:
    """POST every body; open-loop at ``rate_per_s`` (arrivals on a schedule), else 32 at once.

    aiohttp, not httpx: it costs the client about a third of the CPU per request, and on
    two shared cores the client's CPU is taken from the gateway and the predictors.
    """
    # Idle connections expire before the server (uvicorn: 5 s) closes them under us.
    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=1.0)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:
        gate = asyncio.Semaphore(256 if rate_per_s else 32)

        async def one(body: dict[str, Any], at: float) -> Answer:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            async with gate:
                sent = time.monotonic()
                async with client.post("/v1/predict", json=body) as resp:
                    answer = await resp.json()
                return Answer(sent, resp.status, answer, time.monotonic() - sent)

        start = time.monotonic() + 0.2
        step = 1.0 / rate_per_s if rate_per_s else 0.0
        return await asyncio.gather(*(one(b, start + i * step) for i, b in enumerate(bodies)))


def test_readme_request_gets_a_positive_price(serving: Settings) -> None:
    answer = httpx.post(f"{_base(serving)}/v1/predict", json=REQUEST, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["price_lakhs"] > 0
    assert set(body) >= {"request_id", "price_lakhs", "variant", "model_version", "experiment_id"}


def test_every_listing_of_the_data_set_gets_a_price_or_a_domain_refusal(
    serving: Settings,
) -> None:
    # Given every row of the data set as pandas reads it (tests/integration/listings.py)
    bodies = listings(str(serving.data_path))
    assert len(bodies) > 13_000
    well_formed = [b for b in bodies if not malformed_fields(b)]
    assert len(well_formed) > 12_900
    assert all(type(b["bath"]) is float and type(b["bhk"]) is float for b in well_formed)

    # When each is posted to the gateway as it is (a 503 or 504 of a busy machine: again)
    started = time.monotonic()
    answers = asyncio.run(_predict_many(_base(serving), bodies))
    again = [i for i, a in enumerate(answers) if a.status in (503, 504)]
    retried = asyncio.run(_predict_many(_base(serving), [bodies[i] for i in again]))
    for i, answer in zip(again, retried, strict=True):
        answers[i] = answer
    took_s = time.monotonic() - started

    # Then a well-formed row gets a price or a domain refusal, never a type error, and a
    # malformed one is refused naming its malformed field
    outcomes: dict[str, int] = {}
    for answer in answers:
        error = answer.body.get("error")
        key = f"{answer.status} {error['code'] if error else 'ok'}"
        outcomes[key] = outcomes.get(key, 0) + 1
    print(f"{len(answers)} listings in {took_s:.1f} s ({len(again)} asked again): {outcomes}")
    problems = [
        (body, a.status, a.body)
        for body, a in zip(bodies, answers, strict=True)
        if unexpected(body, a.status, a.body.get("error"))
    ]
    assert problems == [], problems[:5]
    assert outcomes.get("200 ok", 0) > 10_000


def test_distinct_keys_split_20_percent_and_a_key_is_sticky(serving: Settings) -> None:
    bodies = [{**REQUEST, "key": f"user-{i}"} for i in range(2000)]
    answers = asyncio.run(_predict_many(_base(serving), bodies))
    assert {a.status for a in answers} == {200}
    share = sum(a.body["variant"] == "candidate" for a in answers) / len(answers)
    print(f"candidate share over 2,000 distinct keys: {share:.3f}")
    assert abs(share - 0.20) <= 0.025

    again = asyncio.run(_predict_many(_base(serving), [{**REQUEST, "key": "user-7"}] * 20))
    assert len({a.body["variant"] for a in again}) == 1
    assert again[0].body["variant"] == answers[7].body["variant"]


def _set_share(settings: Settings, share: float) -> None:
    """Through the admin API, which hands it to the promoter (it stores and records it)."""
    token = settings.admin_token
    assert token is not None
    with running_promoter(settings):
        answer = httpx.put(
            f"{_base(settings)}/v1/admin/split",
            json={"candidate_share": share, "reason": "serving test"},
            headers={"authorization": f"Bearer {token.get_secret_value()}"},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text


def test_share_zero_sends_everything_to_prod(serving: Settings) -> None:
    _set_share(serving, 0.0)
    try:
        bodies = [{**REQUEST, "key": f"zero-{i}"} for i in range(300)]
        answers = asyncio.run(_predict_many(_base(serving), bodies))
        assert {a.status for a in answers} == {200}
        assert {a.body["variant"] for a in answers} == {"prod"}
    finally:
        _set_share(serving, 0.2)


def _wait_for_ack(settings: Settings, consumer: KafkaConsumer, version: str) -> float:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            for record in records:
                event = record.value
                if (
                    event.get("event_type") == "model.reloaded"
                    and event.get("slot") == "prod"
                    and event.get("model_version") == version
                    # the prod predictor's ack; the scorer serves the prod slot too
                    and str(event.get("predictor_id", "")).startswith("prod-")
                ):
                    return time.monotonic()
    raise AssertionError(f"no prod predictor acknowledged {version}")


def _model_events_consumer(settings: Settings) -> KafkaConsumer:
    import json

    consumer = KafkaConsumer(
        settings.topic("model_events").name,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="latest",
        value_deserializer=lambda v: json.loads(v),
        **client_security(settings.as_kafka_role("gateway"), "kafka-python"),  # reads them too
    )
    consumer.poll(timeout_ms=1000)  # join: from here on, every new event is seen
    return consumer


def _publish_new_best(settings: Settings) -> tuple[str, int]:
    """A new immutable version of the current best, put in the best slot by one swap."""
    s3 = s3_client(settings)
    slots = SlotStore(s3, settings.s3_bucket)
    store = ModelStore(
        s3,
        settings.s3_bucket,
        verify_key=settings.model_verify_key,
        signer=manifest_signer(settings),
    )
    current = slots.read()
    assert current is not None and current.slots.best is not None
    loaded = store.load(current.slots.best)
    version = f"{current.slots.best}-r{uuid.uuid4().hex[:6]}"
    manifest = {k: v for k, v in loaded.manifest.items() if k not in ("version", "files")}
    store.publish(version, estimator=loaded.estimator, columns=loaded.columns, manifest=manifest)
    swapped = slots.swap(current, current.slots.next(best=version))
    return version, swapped.slots.generation


def _broadcast_reload(settings: Settings, generation: int) -> None:
    current = SlotStore(s3_client(settings), settings.s3_bucket).read()
    assert current is not None
    event = ModelReload.create(
        generation=generation,
        best=current.slots.best,
        candidate=current.slots.candidate,
        reason="test: new best version",
    )
    sender = producer(settings.as_kafka_role("promoter"))  # who broadcasts reloads
    sender.send(settings.topic("model_events").name, event.model_dump(mode="json")).get(10)
    sender.close()


def test_reload_under_200_per_second_loses_nothing(serving: Settings) -> None:
    # Given open-loop load at 200 requests/s for 30 s
    rate, seconds = 200, 30
    bodies = [{**REQUEST, "key": f"load-{i}"} for i in range(rate * seconds)]
    events = _model_events_consumer(serving)
    acked: list[float] = []

    async def load_and_reload() -> list[Answer]:
        traffic = asyncio.create_task(_predict_many(_base(serving), bodies, rate_per_s=rate))
        await asyncio.sleep(10)
        # When a new version goes to the best slot and the reload is broadcast
        version, generation = await asyncio.to_thread(_publish_new_best, serving)
        await asyncio.to_thread(_broadcast_reload, serving, generation)
        acked.append(await asyncio.to_thread(_wait_for_ack, serving, events, version))
        acked_version.append(version)
        return await traffic

    acked_version: list[str] = []
    answers = asyncio.run(load_and_reload())
    events.close()

    # Then every answer is 200, and every prod answer sent after the ack names the new version
    statuses = {a.status for a in answers}
    late = [a for a in answers if a.sent_at > acked[0] and a.body.get("variant") == "prod"]
    waits_ms = sorted(a.waited_s * 1000 for a in answers)
    p50, p99 = waits_ms[len(waits_ms) // 2], waits_ms[int(len(waits_ms) * 0.99)]
    print(
        f"reload under load: {len(answers)} answers, statuses {statuses}, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {len(late)} prod answers after the ack"
    )
    failed = [a.body for a in answers if a.status != 200][:5]
    assert statuses == {200}, failed
    assert late and {a.body["model_version"] for a in late} == {acked_version[0]}


def test_no_prod_predictor_gives_504_within_deadline_then_recovers(serving: Settings) -> None:
    prod = next(p for p in services.app_processes(serving) if p.name == "predictor-prod")
    # Every key to prod: with a 20% share, any fixed key lands on the candidate in one run of
    # five (the experiment id, which the hash includes, names a new candidate each run).
    _set_share(serving, 0.0)
    supervisor.stop(prod)
    try:
        started = time.monotonic()
        answer = httpx.post(
            f"{_base(serving)}/v1/predict", json={**REQUEST, "key": "prod-only-key"}, timeout=10
        )
        waited = time.monotonic() - started
        body = answer.json()
        assert answer.status_code == 504, answer.text
        assert "error" in body
        assert waited <= serving.reply_timeout_s + 0.5
    finally:
        supervisor.start(prod)
    try:
        assert _eventually_200(serving)
    finally:
        _set_share(serving, 0.2)


def _eventually_200(settings: Settings) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = httpx.post(
            f"{_base(settings)}/v1/predict", json={**REQUEST, "key": "prod-only-key"}, timeout=10
        )
        if answer.status_code == 200:
            return True
        time.sleep(0.5)
    return False


def _dropped_replies(base: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith("splitstream_gateway_replies_dropped_total"):
            return float(line.split()[-1])
    raise AssertionError("the gateway does not export splitstream_gateway_replies_dropped_total")


def test_two_gateways_serve_at_once_and_keep_their_own_replies(serving: Settings) -> None:
    second = services.gateway_process(
        serving, name="gateway-2", port=free_port(), reply_partition=1
    )
    supervisor.start(second)
    try:
        second_base = f"http://{serving.gateway_host}:{second.ports[0]}"
        bodies = [{**REQUEST, "key": f"two-{i}"} for i in range(200)]

        async def both() -> tuple[list[Answer], list[Answer]]:
            return await asyncio.gather(
                _predict_many(_base(serving), bodies), _predict_many(second_base, bodies)
            )

        dropped_before = _dropped_replies(_base(serving))
        first_answers, second_answers = asyncio.run(both())
        ids = [a.body["request_id"] for a in [*first_answers, *second_answers]]
        assert {a.status for a in [*first_answers, *second_answers]} == {200}
        assert len(set(ids)) == len(ids) == 400
        # A reply that reached the wrong gateway would be counted as dropped there.
        assert _dropped_replies(second_base) == 0
        assert _dropped_replies(_base(serving)) == dropped_before
    finally:
        supervisor.stop(second)
