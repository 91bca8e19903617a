"""Pure parts of the gateway: pending replies, the token check, the domain check, errors."""

import asyncio
import time

import pytest
from pydantic import SecretStr

from cli.settings import load_settings
from gateway.deps import check_admin_token
from gateway.errors import (
    AdminDisabledError,
    GatewayError,
    KafkaUnavailableError,
    OutOfDomainError,
    ReplyTimeoutError,
    UnauthorizedError,
    error_body,
)
from gateway.kafka_link import KafkaLink, bootstrap_addresses, tcp_reachable
from gateway.predictions import check_domain
from gateway.replies import PendingReplies
from gateway.routing import Routing
from plumbing.model_store import Slots
from pricing.features import FeatureDomain, FeatureRow
from schemas.serving_events import PredictReply
from stack.ports import free_port

TOKEN = SecretStr("unit-test-admin-token-0123456789")
DOMAIN = FeatureDomain.from_manifest(
    {
        "feature_domain": {
            "locations": ["Whitefield", "rajaji nagar", "other"],
            "model_locations": ["whitefield"],
            "total_sqft": [300, 30000],
            "bath": [1, 10],
            "bhk": [1, 10],
        }
    }
)


def _reply(request_id: str) -> PredictReply:
    return PredictReply.create(
        request_id=request_id,
        experiment_id="exp-1:v2",
        variant="prod",
        slot="prod",
        shadow=False,
        model_version="v1",
        status="ok",
        price_lakhs=50.0,
        error=None,
        predictor_id="p",
        timings={"queued_ms": 0.0, "predict_ms": 0.0, "batch_size": 1},
    )


def _routing(domain: FeatureDomain | None = DOMAIN) -> Routing:
    return Routing(
        slots=Slots(best="v1", candidate="v2"),
        candidate_share=0.2,
        share_source="settings",
        experiment_id="exp-1:v2",
        domain=domain,
        refreshed_at=time.monotonic(),
    )


# --------------------------------------------------------------------------- pending replies


def test_reply_resolves_its_waiter_and_unknown_ones_are_dropped() -> None:
    async def scenario() -> None:
        pending = PendingReplies()
        request_id = "3f2c6a1e-9b4d-4c1a-8e2f-5a6b7c8d9e0f"
        future = pending.register(request_id)
        assert pending.resolve(_reply("00000000-0000-4000-8000-000000000000")) is False
        assert pending.resolve(_reply(request_id)) is True
        assert (await future).price_lakhs == 50.0
        assert pending.resolve(_reply(request_id)) is False  # a duplicate changes nothing
        pending.discard(request_id)
        assert len(pending) == 0

    asyncio.run(scenario())


def test_timed_out_request_leaves_nothing_pending() -> None:
    async def scenario() -> None:
        pending = PendingReplies()
        request_id = "3f2c6a1e-9b4d-4c1a-8e2f-5a6b7c8d9e0f"
        future = pending.register(request_id)
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(future, 0.01)
        finally:
            pending.discard(request_id)
        assert len(pending) == 0
        assert pending.resolve(_reply(request_id)) is False  # the late reply is dropped

    asyncio.run(scenario())


def test_failed_send_fails_the_waiter() -> None:
    async def scenario() -> None:
        pending = PendingReplies()
        future = pending.register("r")
        pending.fail("r", KafkaUnavailableError("down"))
        with pytest.raises(KafkaUnavailableError):
            await future

    asyncio.run(scenario())


# --------------------------------------------------------------------------- admin token


def test_admin_token_check() -> None:
    check_admin_token(TOKEN, f"Bearer {TOKEN.get_secret_value()}")
    check_admin_token(TOKEN, f"bearer   {TOKEN.get_secret_value()}")
    with pytest.raises(AdminDisabledError):
        check_admin_token(None, f"Bearer {TOKEN.get_secret_value()}")
    for header in (None, "", "Bearer", "Bearer x", f"Basic {TOKEN.get_secret_value()}"):
        with pytest.raises(UnauthorizedError) as caught:
            check_admin_token(TOKEN, header)
        assert TOKEN.get_secret_value() not in caught.value.message
        assert caught.value.status == 401


# --------------------------------------------------------------------------- domain


def test_domain_check_normalises_the_location_and_accepts_grouped_names() -> None:
    row = check_domain(_routing(), FeatureRow("  WhiteField ", 1200.0, 2, 2))
    assert row.location == "whitefield"
    grouped = check_domain(_routing(), FeatureRow("Rajaji  Nagar", 1200.0, 2, 2))
    assert grouped.location == "rajaji nagar"


def test_domain_check_refuses_unknown_names_with_the_nearest_and_ranges() -> None:
    with pytest.raises(OutOfDomainError) as unknown:
        check_domain(_routing(), FeatureRow("whitefeild", 1200.0, 2, 2))
    assert unknown.value.field == "location"
    assert unknown.value.allowed == ["whitefield"]
    with pytest.raises(OutOfDomainError) as small:
        check_domain(_routing(), FeatureRow("whitefield", 100.0, 2, 2))
    assert small.value.field == "total_sqft"
    assert small.value.allowed == [300.0, 30000.0]


def test_no_domain_means_no_model() -> None:
    with pytest.raises(GatewayError) as caught:
        check_domain(_routing(domain=None), FeatureRow("whitefield", 1200.0, 2, 2))
    assert caught.value.status == 503


# --------------------------------------------------------------------------- errors, kafka link


def test_error_body_shape_and_statuses() -> None:
    assert error_body("c", "m", field="f", allowed=[1, 2]) == {
        "error": {"code": "c", "message": "m", "field": "f", "allowed": [1, 2]}
    }
    assert ReplyTimeoutError("x").status == 504
    assert KafkaUnavailableError("x").status == 503
    assert OutOfDomainError("x").status == 422


def test_bootstrap_addresses_parse_hosts_and_ports() -> None:
    assert bootstrap_addresses("a:9092, b:9093,[::1]:9094") == [
        ("a", 9092),
        ("b", 9093),
        ("::1", 9094),
    ]


def test_probe_of_a_closed_port_fails_fast() -> None:
    started = time.monotonic()
    assert asyncio.run(tcp_reachable([("127.0.0.1", free_port())], 0.5)) is False
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("bootstrap", "stays_reachable"),
    [("127.0.0.1:9092", False), ("127.0.0.1:9092,127.0.0.1:9102,127.0.0.1:9112", True)],
    ids=["one broker", "cluster"],
)
def test_a_failed_send_stops_all_sends_only_when_there_is_one_broker(
    bootstrap: str, stays_reachable: bool
) -> None:
    link = KafkaLink(load_settings(kafka_bootstrap_servers=bootstrap), client_id="test")
    link._reachable = True  # as the probe leaves it
    link.mark_unreachable(TimeoutError("no leader for the partition"))
    assert link._reachable is stays_reachable
