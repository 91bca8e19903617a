"""The gateway's defences as a real process on the real stack: the admin token, the body
limit, and CORS.

Already covered elsewhere, and not repeated here:
- the same checks in-process, without services: tests/unit/test_gateway_http.py;
- a tampered model file (its sha256 no longer the manifest's) is refused before
  unpickling (tests/integration/test_model_store.py), and a worker told to load it keeps
  serving the version it has (tests/integration/test_predictor_reload.py);
- no secret in the repository: tests/unit/test_security_secrets.py.
"""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka.structs import TopicPartition

from cli.settings import Settings, load_settings
from plumbing import kafka
from plumbing.model_store import SlotStore, SlotsVersion
from plumbing.s3 import s3_client
from tests.integration.echo_gateway import (
    GatewayProcess,
    ensure_topics,
    gateway_env,
    publish_models,
    run_gateway,
)
from tests.integration.promoter_thread import running_promoter

ALLOWED_ORIGIN = "https://allowed.example"
ACTIONS = ("promote", "reject", "rollback", "pause", "resume")
COMMAND = {"operator": "mallory", "reason": "no token", "expected_generation": 0}
LISTING = {"location": "Whitefield", "total_sqft": 1200, "bath": 2, "bhk": 2}


@pytest.fixture(scope="module")
def sec_settings(stack: Settings) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    settings = load_settings(topic_prefix=f"sec{suffix}.", s3_bucket=f"sec-{suffix}")
    ensure_topics(settings)
    publish_models(settings)
    return settings


@pytest.fixture(scope="module")
def gateway(
    sec_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = gateway_env(sec_settings, SPLITSTREAM_CORS_ORIGINS=json.dumps([ALLOWED_ORIGIN]))
    run_dir = Path(tmp_path_factory.mktemp("security"))
    with run_gateway("gateway-security", run_dir, env) as process:
        yield process


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10.0) as http:
        yield http


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "field", "allowed"}
    return error


def _slots(settings: Settings) -> SlotsVersion:
    current = SlotStore(s3_client(settings), settings.s3_bucket).read()
    assert current is not None
    return current


def _commands_sent(settings: Settings) -> list[dict[str, Any]]:
    """Every promoter.command ever produced to this module's commands topic."""
    consumer = kafka.consumer(settings.as_kafka_role("operator"), group_id=None)
    partition = TopicPartition(settings.topic("promoter_commands").name, 0)
    try:
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        events: list[dict[str, Any]] = []
        while consumer.position(partition) < end:
            for record in consumer.poll(timeout_ms=500).get(partition, []):
                events.append(json.loads(record.value))
    finally:
        consumer.close()
    return [e for e in events if e.get("event_type") == "promoter.command"]


# --------------------------------------------------------------------------- admin token


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-the-token", "Basic YWRtaW46YWRtaW4=", "Bearer"]
)
def test_admin_refuses_a_missing_or_wrong_token_and_nothing_changes(
    client: httpx.Client, sec_settings: Settings, authorization: str | None
) -> None:
    # Given the slots, the split and the command topic as they are
    headers = {"Authorization": authorization} if authorization else {}
    slots_before = _slots(sec_settings)
    experiment_before = client.get("/v1/experiment").json()

    # When every admin action is asked for without the right token
    answers = [client.post(f"/v1/admin/{a}", json=COMMAND, headers=headers) for a in ACTIONS]
    answers.append(client.put("/v1/admin/split", json={"candidate_share": 1.0}, headers=headers))

    # Then each is 401 with a JSON error and a Bearer challenge, naming no token
    for answer in answers:
        assert answer.status_code == 401, answer.text
        assert _error(answer)["code"] == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"
    # And nothing changed: no command reached the promoter, slots and split are as they were
    assert _commands_sent(sec_settings) == []
    assert _slots(sec_settings) == slots_before
    assert client.get("/v1/experiment").json() == experiment_before


def test_admin_with_the_token_passes_the_check(
    client: httpx.Client, sec_settings: Settings
) -> None:
    """The refusals above are the token's doing: with it, the same share is stored."""
    assert sec_settings.admin_token is not None
    token = {"Authorization": f"Bearer {sec_settings.admin_token.get_secret_value()}"}
    share = client.get("/v1/experiment").json()["candidate_share"]
    with running_promoter(sec_settings):  # a share change is a command the promoter executes
        stored = client.put(
            "/v1/admin/split", json={"candidate_share": share}, headers=token, timeout=60
        )
    assert stored.status_code == 200, stored.text
    assert stored.json()["candidate_share"] == share


# --------------------------------------------------------------------------- body limit


def _padding(settings: Settings) -> str:
    return "x" * (settings.max_body_bytes + 1)


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/feedback", "/api/feedback"])
def test_an_oversized_json_body_is_413_json(
    client: httpx.Client, sec_settings: Settings, path: str
) -> None:
    answer = client.post(path, json={**LISTING, "padding": _padding(sec_settings)})
    assert answer.status_code == 413
    error = _error(answer)
    assert error["code"] == "body_too_large"
    assert error["allowed"] == {"max_body_bytes": sec_settings.max_body_bytes}


def test_an_oversized_form_body_is_413_json_declared_or_streamed(
    client: httpx.Client, sec_settings: Settings
) -> None:
    form = {**{k: str(v) for k, v in LISTING.items()}, "location": _padding(sec_settings)}
    declared = client.post("/api/predict_home_price", data=form)
    assert declared.status_code == 413
    assert _error(declared)["code"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the gateway counts as it reads
        yield b"total_sqft=1200&bath=2&bhk=2&location="
        for _ in range(sec_settings.max_body_bytes // 1024 + 1):
            yield b"x" * 1024

    streamed = client.post(
        "/api/predict_home_price",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert streamed.status_code == 413
    assert _error(streamed)["code"] == "body_too_large"


def test_an_oversized_admin_body_is_413_even_with_the_token(
    client: httpx.Client, sec_settings: Settings
) -> None:
    assert sec_settings.admin_token is not None
    token = {"Authorization": f"Bearer {sec_settings.admin_token.get_secret_value()}"}
    body = {**COMMAND, "reason": _padding(sec_settings)}
    answer = client.post("/v1/admin/pause", json=body, headers=token)
    assert answer.status_code == 413
    assert _error(answer)["code"] == "body_too_large"
    # (the share change of the test above is the only command this module lets through)
    assert [c["action"] for c in _commands_sent(sec_settings)] in ([], ["split"])


# --------------------------------------------------------------------------- CORS


def test_cors_allows_the_configured_origin_only(client: httpx.Client) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = client.options("/v1/predict", headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    other = client.options("/v1/predict", headers={"Origin": "https://evil.example", **preflight})
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers

    simple = client.get("/v1/experiment", headers={"Origin": ALLOWED_ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    foreign = client.get("/v1/experiment", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 200  # the browser, not the server, withholds the answer
    assert "access-control-allow-origin" not in foreign.headers
