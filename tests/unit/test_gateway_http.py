"""The gateway's HTTP edge without services: validation, errors, body limit, admin token, CORS.

The app runs with its real lifespan, pointed at closed ports: Kafka and S3 are
unreachable, which is itself a behaviour under test (503, never a hang).
"""

import logging
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cli.settings import Settings, load_settings
from gateway.main import create_app
from gateway.routes import admin
from plumbing.errors import PromoterUnavailableError
from plumbing.request_ids import RequestIds, for_settings
from schemas.decision_events import PromoterCommandResult
from stack.ports import free_port

#: The gateway answers only its trusted hosts (localhost by default), not "testserver".
LOCAL = "http://localhost"

TOKEN = "unit-test-admin-token-0123456789"
VALID = {"location": "Whitefield", "total_sqft": 1200, "bath": 2, "bhk": 2}


def _settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
        "s3_endpoint_url": f"http://127.0.0.1:{free_port()}",
        "s3_access_key": "unit",
        "s3_secret_key": "unit-secret",
        "admin_token": TOKEN,
        "max_body_bytes": 1024,
        "cors_origins": ["https://allowed.example"],
        "request_id_key": "k" * 32,
    }
    return load_settings(**{**base, **overrides})


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(_settings())
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as test_client:
        yield test_client


def _error(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field", "allowed"}
    return body["error"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("missing", ["location", "total_sqft", "bath", "bhk"])
def test_missing_field_is_422_naming_the_field(client: TestClient, missing: str) -> None:
    body = {k: v for k, v in VALID.items() if k != missing}
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "invalid_input"
    assert error["field"] == missing
    assert error["message"] == f"{missing} is required"
    assert error["allowed"]["type"] in ("string", "number", "integer")


@pytest.mark.parametrize(
    ("field", "value"),
    [("bath", "2"), ("bhk", 2.5), ("total_sqft", "1200"), ("location", 5), ("bhk", True)],
)
def test_wrong_type_is_422_naming_the_field(client: TestClient, field: str, value: object) -> None:
    response = client.post("/v1/predict", json={**VALID, field: value})
    assert response.status_code == 422
    assert _error(response)["field"] == field


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("total_sqft", -5, {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000}),
        ("total_sqft", 1e12, {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000}),
        ("bhk", 0, {"type": "integer", "minimum": 1, "maximum": 50}),
        ("bhk", 10_000, {"type": "integer", "minimum": 1, "maximum": 50}),
        ("bath", -1, {"type": "integer", "minimum": 0, "maximum": 50}),
    ],
)
def test_number_out_of_range_is_422_with_the_range(
    client: TestClient, field: str, value: float, allowed: dict[str, object]
) -> None:
    response = client.post("/v1/predict", json={**VALID, field: value})
    assert response.status_code == 422
    error = _error(response)
    assert error["field"] == field
    assert error["allowed"] == allowed


def test_integral_floats_pass_validation_on_both_apis(client: TestClient) -> None:
    # Given integers written as floats, as pandas writes a column with a missing value
    body = {"location": "Whitefield", "total_sqft": 1200.0, "bath": 2.0, "bhk": 3.0}
    form = {"location": "Whitefield", "total_sqft": "1200.0", "bath": "2.0", "bhk": "3.0"}

    v1 = client.post("/v1/predict", json=body)
    legacy = client.post("/api/predict_home_price", data=form)

    # Then validation passes: what is left is the missing Kafka and model (503)
    for response in (v1, legacy):
        assert response.status_code == 503, response.text
        assert _error(response)["code"] in ("model_unavailable", "kafka_unavailable")


@pytest.mark.parametrize(("field", "value"), [("bath", 2.5), ("bhk", 3.25), ("bath", -0.5)])
def test_fractional_number_in_an_integer_field_is_422_saying_why(
    client: TestClient, field: str, value: float
) -> None:
    response = client.post("/v1/predict", json={**VALID, field: value})

    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "invalid_input"
    assert error["field"] == field
    assert error["message"] == f"{field}: Input should be a whole number (2 or 2.0), not {value}"
    assert error["allowed"]["type"] == "integer"


def test_fractional_number_in_a_legacy_form_field_is_400_naming_it(client: TestClient) -> None:
    form = {"location": "Whitefield", "total_sqft": "1200", "bath": "2.5", "bhk": "2"}

    response = client.post("/api/predict_home_price", data=form)

    assert response.status_code == 400
    error = _error(response)
    assert error["field"] == "bath"
    assert "valid integer" in error["message"]


def test_invalid_predictions_are_counted_as_answered_errors(client: TestClient) -> None:
    client.post("/v1/predict", json={**VALID, "bath": 2.5})

    text = client.get("/metrics").text

    assert 'prediction_errors_total{endpoint="/v1/predict",error_type="invalid_input"' in text
    assert 'splitstream_gateway_requests_total{api="v1",status="422",variant="none"}' in text


def test_unknown_field_and_bad_json_are_422(client: TestClient) -> None:
    unknown = client.post("/v1/predict", json={**VALID, "sqft": 1})
    assert unknown.status_code == 422
    assert _error(unknown)["field"] == "sqft"
    broken = client.post(
        "/v1/predict", content=b'{"location": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert _error(broken)["message"] == "the body is not valid JSON"


def test_split_key_header_longer_than_200_is_422(client: TestClient) -> None:
    response = client.post("/v1/predict", json=VALID, headers={"X-Split-Key": "k" * 201})
    assert response.status_code == 422
    assert _error(response)["field"] == "X-Split-Key"


def test_legacy_input_errors_are_400_naming_the_field(client: TestClient) -> None:
    form = client.post(
        "/api/predict_home_price", data={"location": "x", "total_sqft": "1000", "bath": "2"}
    )
    assert form.status_code == 400
    assert _error(form)["field"] == "bhk"
    feedback = client.post("/api/feedback", json={"feedback_type": "accurate"})
    assert feedback.status_code == 400
    assert _error(feedback)["field"] == "prediction_id"
    wrong_type = client.post(
        "/api/feedback", json={"prediction_id": "not-an-id", "feedback_type": "accurate"}
    )
    assert wrong_type.status_code == 400
    assert _error(wrong_type)["field"] == "prediction_id"


# --------------------------------------------------------------------------- unavailable


def test_valid_predict_without_kafka_or_model_is_503_json(client: TestClient) -> None:
    response = client.post("/v1/predict", json=VALID)
    assert response.status_code == 503
    assert _error(response)["code"] in ("model_unavailable", "kafka_unavailable")


def test_readyz_is_503_with_reasons_and_healthz_is_200(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["ready"] is False
    assert any(reason.startswith("kafka") for reason in body["reasons"])
    assert any(reason.startswith("slots") for reason in body["reasons"])
    health = client.get("/api/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"


def test_feedback_without_kafka_is_503(client: TestClient) -> None:
    served = for_settings(_settings()).mint()
    body = {"request_id": served, "actual_price_lakhs": 70.5}
    response = client.post("/v1/feedback", json=body)
    assert response.status_code == 503
    assert _error(response)["code"] == "kafka_unavailable"


def test_feedback_for_a_request_no_gateway_served_is_404_naming_the_field(
    client: TestClient,
) -> None:
    forged = {"request_id": "3f2c6a1e-9b4d-4c1a-8e2f-5a6b7c8d9e0f", "actual_price_lakhs": 70.5}
    legacy = {"prediction_id": forged["request_id"], "feedback_type": "accurate"}
    other_key = RequestIds(b"another gateway key, not ours").mint()

    for path, body, field in (
        ("/v1/feedback", forged, "request_id"),
        ("/v1/feedback", {**forged, "request_id": other_key}, "request_id"),
        ("/api/feedback", legacy, "prediction_id"),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 404, (path, response.text)
        assert _error(response)["field"] == field


@pytest.mark.parametrize("price", [1e200, 0.5, 10_000.5, -3])
def test_feedback_out_of_the_price_range_is_422(client: TestClient, price: float) -> None:
    body = {"request_id": for_settings(_settings()).mint(), "actual_price_lakhs": price}

    response = client.post("/v1/feedback", json=body)

    assert response.status_code == 422
    assert _error(response)["field"] == "actual_price_lakhs"


def test_a_gateway_without_a_request_id_key_does_not_start() -> None:
    with pytest.raises(ValueError, match="SPLITSTREAM_REQUEST_ID_KEY"):
        create_app(_settings(request_id_key=None))


def test_unknown_route_and_method_answer_json(client: TestClient) -> None:
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404
    assert _error(missing)["code"] == "not_found"
    wrong_method = client.get("/v1/predict")
    assert wrong_method.status_code == 405
    assert _error(wrong_method)["code"] == "method_not_allowed"


# --------------------------------------------------------------------------- body limit


def test_declared_body_over_the_limit_is_413(client: TestClient) -> None:
    response = client.post(
        "/v1/predict", content=b" " * 2048, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "body_too_large"
    assert error["allowed"] == {"max_body_bytes": 1024}


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b" " * 256

    response = client.post(
        "/v1/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert _error(response)["code"] == "body_too_large"


def test_streamed_body_within_the_limit_reaches_the_route(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"location": "x", '
        yield b'"total_sqft": -1, "bath": 1, "bhk": 1}'

    response = client.post(
        "/v1/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert _error(response)["field"] == "total_sqft"


# --------------------------------------------------------------------------- admin token


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", TOKEN]
)
def test_admin_without_the_right_bearer_token_is_401(
    client: TestClient, authorization: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": authorization} if authorization else {}
    response = client.put("/v1/admin/split", json={"candidate_share": 0.3}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert _error(response)["code"] == "unauthorized"
    assert TOKEN not in caplog.text
    assert TOKEN not in response.text


def test_admin_with_token_validates_the_share(client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = client.put("/v1/admin/split", json={"candidate_share": 1.5}, headers=headers)
    assert response.status_code == 422
    assert _error(response)["allowed"] == {"type": "number", "minimum": 0.0, "maximum": 1.0}


def _answer(outcome: str, message: str) -> PromoterCommandResult:
    return PromoterCommandResult.create(
        command_id=str(uuid.uuid4()),
        action="split",
        outcome=outcome,
        message=message,
        ledger_sequence=3 if outcome == "done" else None,
        slots={"best": "m-1", "candidate": "m-2", "previous_best": None, "generation": 2},
    )


def test_a_share_change_is_a_command_to_the_promoter_with_operator_and_reason(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a promoter that takes the command
    sent: list[dict[str, object]] = []

    def promoter(_settings: Settings, **command: object) -> PromoterCommandResult:
        sent.append(command)
        return _answer("done", "candidate share 20% -> 30%")

    monkeypatch.setattr(admin, "send_command", promoter)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"candidate_share": 0.3, "reason": "more traffic", "operator": "asha"}
    # When the share is set over HTTP
    response = client.put("/v1/admin/split", json=body, headers=headers)
    # Then the promoter got it as a split command (it writes S3 and the ledger)
    assert response.status_code == 200, response.text
    assert sent == [
        {"action": "split", "operator": "asha", "reason": "more traffic", "candidate_share": 0.3}
    ]
    defaults = client.put("/v1/admin/split", json={"candidate_share": 0.1}, headers=headers)
    assert defaults.status_code == 200
    assert sent[-1]["operator"] == "admin" and sent[-1]["reason"] == "set through the admin API"


def test_a_share_change_the_promoter_refuses_is_409(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        admin, "send_command", lambda _s, **_c: _answer("refused", "no model was ever published")
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = client.put("/v1/admin/split", json={"candidate_share": 0.3}, headers=headers)
    assert response.status_code == 409
    assert "no model was ever published" in _error(response)["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/admin/split", {"candidate_share": 0.3}),
        ("POST", "/v1/admin/promote", {"reason": "the candidate is better"}),
    ],
)
def test_a_command_no_promoter_answers_is_503_promoter_unavailable_with_its_reason(
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    body: dict[str, object],
) -> None:
    # Given no promoter answering commands
    reason = "no promoter answered within 5.0 s; is `splitstream promoter` running?"

    def silent(_settings: Settings, **_command: object) -> PromoterCommandResult:
        raise PromoterUnavailableError(reason)

    monkeypatch.setattr(admin, "send_command", silent)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    # When an operator sends a command over HTTP
    response = client.request(method, path, json=body, headers=headers)
    # Then the answer is 503 with the promoter client's reason, not a 500
    assert response.status_code == 503, response.text
    assert _error(response) == {
        "code": "promoter_unavailable",
        "message": reason,
        "field": None,
        "allowed": None,
    }


def test_admin_without_a_configured_token_is_503_admin_disabled() -> None:
    with TestClient(create_app(_settings(admin_token=None)), base_url=LOCAL) as client:
        response = client.put("/v1/admin/split", json={"candidate_share": 0.3})
    assert response.status_code == 503
    assert _error(response)["code"] == "admin_disabled"


@pytest.mark.parametrize("token", ["changethis", "short-token"])
def test_placeholder_or_short_admin_token_is_refused_at_start(token: str) -> None:
    with pytest.raises(ValueError, match="SPLITSTREAM_ADMIN_TOKEN") as caught:
        create_app(_settings(admin_token=token))
    assert token not in str(caught.value)


# --------------------------------------------------------------------------- CORS, OpenAPI


def test_cors_allows_configured_origins_only(client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = client.options(
        "/v1/predict", headers={"Origin": "https://allowed.example", **preflight}
    )
    assert allowed.headers["access-control-allow-origin"] == "https://allowed.example"
    other = client.options("/v1/predict", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers


def test_openapi_lists_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {(path, method) for path, item in paths.items() for method in item} == {
        ("/v1/predict", "post"),
        ("/v1/feedback", "post"),
        ("/v1/admin/split", "put"),
        ("/v1/admin/{action}", "post"),
        ("/v1/locations", "get"),
        ("/v1/experiment", "get"),
        ("/v1/dashboard", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/api/get_location_names", "get"),
        ("/api/predict_home_price", "post"),
        ("/api/feedback", "post"),
        ("/api/health", "get"),
        ("/api/metrics", "get"),
    }
