"""Fuzzing the gateway's HTTP API with schemathesis, against its own OpenAPI document.

A real gateway process runs on the real stack, with the echo predictor answering, so
valid predictions get 200 and every other answer comes from the gateway itself. Every
operation in the schema is fuzzed (positive and negative data), the old form-encoded
``/api/*`` ones and the admin ones too: the admin token is sent, and no promoter runs,
so an admin command waits ``promoter_command_timeout_s`` (kept short) and answers 503.

Each response must conform to the schema of its operation, and no response may be a
server error, except a 503 or 504 that the operation documents.
"""

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, CheckContext, GenerationMode, Response
from schemathesis.specs.openapi.checks import response_schema_conformance

from cli.settings import Settings, load_settings
from plumbing.model_store import ModelStore, Slots, SlotStore
from plumbing.s3 import s3_client
from tests.integration.echo_gateway import (
    CANDIDATE_VERSION,
    FEATURE_DOMAIN,
    PROD_VERSION,
    EchoPredictor,
    GatewayProcess,
    ensure_topics,
    gateway_env,
    run_gateway,
)

#: Server errors a client may see when the operation documents them: Kafka, a model or
#: the promoter unavailable (503), no reply before the deadline (504).
DOCUMENTABLE_SERVER_ERRORS = {503, 504}
EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def fuzz_settings(stack: Settings) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    fresh = load_settings(topic_prefix=f"fz{suffix}.", s3_bucket=f"fz-{suffix}")
    ensure_topics(fresh)
    _publish_wide_models(fresh)
    return fresh


def _publish_wide_models(settings: Settings) -> None:
    """Prod and candidate stand-ins trained (so their manifests say) on almost the whole
    range the API accepts, so most valid requests reach the echo predictor and get 200;
    below 300 sq ft is out of the domain (422)."""
    s3 = s3_client(settings)
    s3.create_bucket(Bucket=settings.s3_bucket)
    domain = {**FEATURE_DOMAIN, "total_sqft": [300.0, 1e6], "bath": [0, 50], "bhk": [1, 50]}
    models = ModelStore(s3, settings.s3_bucket)
    for version in (PROD_VERSION, CANDIDATE_VERSION):
        models.publish(
            version,
            estimator={"stand-in": version},
            columns=["total_sqft", "bath", "bhk", *domain["model_locations"]],
            manifest={"feature_domain": domain},
        )
    SlotStore(s3, settings.s3_bucket).create(Slots(best=PROD_VERSION, candidate=CANDIDATE_VERSION))


@pytest.fixture(scope="module")
def fuzzed_gateway(
    fuzz_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    echo = EchoPredictor(fuzz_settings)
    echo.start()
    env = gateway_env(fuzz_settings, SPLITSTREAM_PROMOTER_COMMAND_TIMEOUT_S="0.3")
    try:
        with run_gateway("gateway-fuzz", Path(tmp_path_factory.mktemp("fuzz")), env) as gateway:
            yield gateway
    finally:
        echo.stop()


@pytest.fixture(scope="module")
def gateway_schema(fuzzed_gateway: GatewayProcess) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_gateway.url}/openapi.json")


@pytest.fixture(scope="module")
def admin_headers(fuzz_settings: Settings) -> dict[str, str]:
    assert fuzz_settings.admin_token is not None
    return {"Authorization": f"Bearer {fuzz_settings.admin_token.get_secret_value()}"}


def no_undocumented_server_error(ctx: CheckContext, response: Response, case: Case) -> None:
    """A 5xx only when it is a 503 or 504 that the operation lists in its responses."""
    status = response.status_code
    if status < 500:
        return
    documented = {str(code) for code in case.operation.responses.status_codes}
    assert status in DOCUMENTABLE_SERVER_ERRORS and str(status) in documented, (
        f"{case.operation.label} answered {status} (documented: {sorted(documented)}): "
        f"{response.text[:500]}"
    )


def _has_inputs(operation: APIOperation) -> bool:
    """Whether there is anything to make invalid (negative data needs a body or a parameter)."""
    parts = (operation.body, operation.path_parameters, operation.query, operation.headers)
    return any(len(part) > 0 for part in parts)


def _with_location(case: Case, location: str | None) -> Case:
    if location is not None and isinstance(case.body, dict):
        case.body["location"] = location
    return case


def _cases(operation: APIOperation, mode: GenerationMode) -> st.SearchStrategy[Case]:
    """The operation's cases; valid predictions name a known location half of the time,
    since a made-up one is refused as out of the model's domain (422)."""
    cases = operation.as_strategy(generation_mode=mode)
    if not (mode.is_positive and operation.path.endswith(("/predict", "/predict_home_price"))):
        return cases
    locations = st.sampled_from([None, *FEATURE_DOMAIN["locations"]])
    return st.builds(_with_location, cases, locations)


def _fuzz(
    operation: APIOperation,
    mode: GenerationMode,
    headers: dict[str, str],
    statuses: Counter[tuple[str, str, int]],
) -> str | None:
    """Run one operation's examples in one mode; the failure, if any, as text."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        # The same examples every run: the coverage check below (valid data was served)
        # must not depend on whether a random draw happened to land in the model's domain.
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation, mode))
    def examples(case: Case) -> None:
        response = case.call_and_validate(
            headers=headers,
            timeout=10,
            checks=[no_undocumented_server_error, response_schema_conformance],
        )
        statuses[(operation.label, mode.value, response.status_code)] += 1

    try:
        examples()
    except Exception as failure:  # schemathesis raises a group of check failures
        return f"{operation.label} ({mode}): {failure}"
    return None


def test_every_operation_answers_within_its_schema_and_without_server_errors(
    gateway_schema: BaseSchema, admin_headers: dict[str, str]
) -> None:
    operations = [result.ok() for result in gateway_schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert {"POST /v1/admin/{action}", "POST /api/predict_home_price"} <= labels, labels
    statuses: Counter[tuple[str, str, int]] = Counter()
    failures = [
        failure
        for operation in operations
        for mode in GenerationMode
        if mode.is_positive or _has_inputs(operation)
        if (failure := _fuzz(operation, mode, admin_headers, statuses)) is not None
    ]
    assert not failures, "\n\n".join(failures)
    # The fuzzing reached the handlers: valid data was served, the token was accepted
    # (no promoter runs, so a valid command, a share change included, is 503), and
    # invalid data was refused.
    expected = [
        ("POST /v1/predict", "positive", 200),
        ("POST /api/predict_home_price", "positive", 200),
        ("PUT /v1/admin/split", "positive", 503),
        ("POST /v1/admin/{action}", "positive", 503),
        ("POST /v1/predict", "negative", 422),
        ("POST /api/predict_home_price", "negative", 400),
    ]
    assert [e for e in expected if e not in statuses] == [], statuses
    assert not any(status == 401 for _, _, status in statuses), statuses
