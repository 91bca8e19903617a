"""Admission control: past max_in_flight predictions, 503 at once with Retry-After."""

import asyncio
import json
from typing import Any

import pytest

from gateway.admission import AdmissionMiddleware


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
