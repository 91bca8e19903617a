"""Admission control: past max_in_flight predictions, 503 at once with Retry-After."""

import asyncio
import json
import time
from typing import Any

import pytest

from gateway.admission import AdmissionMiddleware, Bounds, refusal_reason
from gateway.loop_lag import LoopLag


class HeldApp:
    """An app whose prediction requests wait until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.entered += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


class FakeApp:
    state = type("State", (), {})()


def _scope(path: str) -> dict[str, Any]:
    return {"type": "http", "path": path, "app": FakeApp()}


async def _call(app: AdmissionMiddleware, path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    await app(_scope(path), receive, send)
    return sent


def test_requests_past_the_bound_get_503_with_retry_after_and_a_json_body() -> None:
    async def scenario() -> None:
        inner = HeldApp()
        app = AdmissionMiddleware(inner, max_in_flight=2)
        held = [asyncio.create_task(_call(app, "/v1/predict")) for _ in range(2)]
        await asyncio.sleep(0)
        refused = await _call(app, "/api/predict_home_price")
        assert refused[0]["status"] == 503
        headers = dict(refused[0]["headers"])
        assert headers[b"retry-after"] == b"1"
        assert headers[b"content-type"] == b"application/json"
        error = json.loads(refused[1]["body"])["error"]
        assert error["code"] == "overloaded"
        assert error["allowed"] == {"max_in_flight": 2}
        assert inner.entered == 2  # the refused request never reached the app
        inner.release.set()
        assert [m[0]["status"] for m in await asyncio.gather(*held)] == [200, 200]
        assert app.in_flight == 0
        assert (await _call(app, "/v1/predict"))[0]["status"] == 200  # room again

    asyncio.run(scenario())


def test_other_paths_are_never_counted_or_refused() -> None:
    async def scenario() -> None:
        inner = HeldApp()
        inner.release.set()
        app = AdmissionMiddleware(inner, max_in_flight=1)
        app.in_flight = 1  # as if one prediction were in flight
        assert (await _call(app, "/v1/feedback"))[0]["status"] == 200
        assert app.in_flight == 1

    asyncio.run(scenario())


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AdmissionMiddleware(HeldApp(), max_in_flight=0)


async def _hog_the_loop(block_s: float, stop: asyncio.Event) -> None:
    """Hold the event loop ``block_s`` at a time, as a CPU-starved gateway would."""
    while not stop.is_set():
        time.sleep(block_s)
        await asyncio.sleep(0)


def test_while_the_loop_lags_predictions_get_503_at_once_and_never_reach_the_app() -> None:
    async def scenario() -> None:
        inner = HeldApp()
        inner.release.set()
        app = AdmissionMiddleware(inner, max_in_flight=100, max_loop_lag_s=0.025)
        assert (await _call(app, "/v1/predict"))[0]["status"] == 200
        stop = asyncio.Event()
        hog = asyncio.create_task(_hog_the_loop(0.06, stop))
        await asyncio.sleep(0.3)
        refused = await _call(app, "/v1/predict")
        stop.set()
        await hog
        assert refused[0]["status"] == 503
        assert dict(refused[0]["headers"])[b"retry-after"] == b"1"
        error = json.loads(refused[1]["body"])["error"]
        assert error["code"] == "overloaded" and error["allowed"] == {"max_loop_lag_ms": 25}
        assert inner.entered == 1
        await asyncio.sleep(0.05)  # two ticks on time: admitted again
        assert (await _call(app, "/v1/predict"))[0]["status"] == 200

    asyncio.run(scenario())


def test_one_late_tick_is_noise_and_an_idle_gateway_stops_ticking() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        lag = LoopLag(tick_s=0.005, idle_after_s=0.2)
        lag.saw_request(loop)
        await asyncio.sleep(0.02)
        time.sleep(0.06)  # one preemption
        await asyncio.sleep(0.001)
        assert lag.lag_s < 0.01
        await asyncio.sleep(0.4)
        assert lag.lag_s == 0.0 and not lag.ticking  # no timer left: nothing wakes at rest

    asyncio.run(scenario())


def test_a_lag_bound_of_zero_never_refuses_for_lag() -> None:
    async def scenario() -> None:
        inner = HeldApp()
        inner.release.set()
        app = AdmissionMiddleware(inner, max_in_flight=100, max_loop_lag_s=0.0)
        app.lag.lag_s = 10.0
        assert (await _call(app, "/v1/predict"))[0]["status"] == 200
        assert not app.lag.ticking

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("in_flight", "lag_s", "reason"),
    [
        (63, 0.5, None),  # behind, but under the lower bound
        (64, 0.5, "behind"),  # behind, at the lower bound
        (200, 0.0, None),  # many in flight on a loop that keeps up: a Kafka stall
        (200, 0.02, None),  # lag at the threshold is not past it
        (256, 0.0, "full"),
        (10, 2.5, "lagging"),  # the loop too far behind for any request
    ],
)
def test_the_lower_bound_holds_only_while_the_loop_runs_behind(
    in_flight: int, lag_s: float, reason: str | None
) -> None:
    bounds = Bounds(256, max_in_flight_behind=64, behind_lag_s=0.02, max_loop_lag_s=2.0)

    assert refusal_reason(bounds, in_flight, lag_s) == reason


@pytest.mark.parametrize(
    ("in_flight", "cpu_share", "reason"),
    [
        (64, 0.9, "behind"),  # the gateway busy past its share: the lower bound
        (63, 0.9, None),
        (200, 0.1, None),  # many in flight, an idle gateway: a Kafka stall
    ],
)
def test_a_busy_gateway_is_short_of_cpu_though_its_loop_is_on_time(
    in_flight: int, cpu_share: float, reason: str | None
) -> None:
    bounds = Bounds(256, max_in_flight_behind=64, behind_lag_s=0.005, busy_cpu_share=0.6)

    assert refusal_reason(bounds, in_flight, 0.0, cpu_share) == reason


def test_the_cpu_share_follows_what_the_process_spends_and_drops_when_idle() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        lag = LoopLag(tick_s=0.005, idle_after_s=0.2)
        lag.saw_request(loop)
        await asyncio.sleep(0.3)
        assert lag.cpu_share < 0.3  # waiting costs nothing
        wall, cpu = time.monotonic(), time.process_time()
        spin_until = wall + 0.4
        while time.monotonic() < spin_until:  # all the core it gets, yielding to the ticks
            lag.saw_request(loop)
            end = time.monotonic() + 0.002
            while time.monotonic() < end:
                pass
            await asyncio.sleep(0)
        spent = (time.process_time() - cpu) / (time.monotonic() - wall)  # < 1 on a busy box
        assert lag.cpu_share > 0.6 * spent
        await asyncio.sleep(0.5)
        assert lag.cpu_share == 0.0 and not lag.ticking

    asyncio.run(scenario())


def test_without_a_lower_bound_or_its_lag_the_behind_rule_is_off() -> None:
    assert not Bounds(256, max_in_flight_behind=None, behind_lag_s=0.02).behind_rule
    assert not Bounds(256, max_in_flight_behind=64, behind_lag_s=0.0).watches_lag
    assert refusal_reason(Bounds(256, max_in_flight_behind=64), 200, 10.0) is None


def test_while_the_loop_runs_behind_the_lower_bound_refuses_with_its_own_body() -> None:
    async def scenario() -> None:
        inner = HeldApp()
        app = AdmissionMiddleware(
            inner, max_in_flight=100, max_in_flight_behind=1, behind_lag_s=0.025
        )
        held = asyncio.create_task(_call(app, "/v1/predict"))
        await asyncio.sleep(0)
        assert app.in_flight == 1  # one in flight is under 100: admitted on a loop on time
        stop = asyncio.Event()
        hog = asyncio.create_task(_hog_the_loop(0.06, stop))
        await asyncio.sleep(0.3)
        refused = await _call(app, "/v1/predict")
        stop.set()
        await hog
        inner.release.set()
        await held
        assert refused[0]["status"] == 503
        error = json.loads(refused[1]["body"])["error"]
        assert error["code"] == "overloaded" and error["allowed"] == {"max_in_flight": 1}
        assert "short of CPU" in error["message"]
        assert inner.entered == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("served_per_s", "reason"),
    [
        (0.0, None),  # busy, but no reply comes back: a stall on a loaded machine
        (299.0, None),
        (300.0, "behind"),  # busy and serving at a rate: an overload
    ],
)
def test_the_lower_bound_holds_only_while_replies_flow(
    served_per_s: float, reason: str | None
) -> None:
    bounds = Bounds(256, max_in_flight_behind=64, busy_cpu_share=0.3, min_served_per_s=300)

    assert refusal_reason(bounds, 64, 0.0, 0.9, served_per_s) == reason


def test_served_replies_make_the_served_rate_and_an_idle_gateway_forgets_it() -> None:
    async def scenario() -> None:
        inner = HeldApp()
        inner.release.set()
        app = AdmissionMiddleware(
            inner, max_in_flight=100, max_in_flight_behind=64, busy_cpu_share=0.3
        )
        app.lag.idle_after_s = 0.2
        for _ in range(100):  # 100 replies over ~0.5 s: at most 200 a second
            assert (await _call(app, "/v1/predict"))[0]["status"] == 200
            await asyncio.sleep(0.005)
        assert 20 < app.lag.served_per_s < 300
        await asyncio.sleep(0.4)
        assert app.lag.served_per_s == 0.0 and not app.lag.ticking

    asyncio.run(scenario())
