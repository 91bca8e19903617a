"""Held-out traffic for the demo and the loop tests: predictions, then true prices as feedback.

Open loop: arrivals follow a schedule at ``rate_per_s``, so a slow answer does not slow
the sender. Every prediction gets a distinct key (sticky keys would make request
counts non-binomial, and the sample-ratio check would cry wolf).
"""

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from cli.settings import Settings

#: Most requests in flight at once; beyond it arrivals queue in the client.
MAX_IN_FLIGHT = 128


@dataclass(frozen=True)
class Served:
    """One prediction as the client saw it, and whether its feedback was accepted."""

    status: int
    request_id: str | None
    variant: str | None
    model_version: str | None
    actual: float
    feedback_status: int | None


def gateway_url(settings: Settings) -> str:
    return f"http://{settings.gateway_host}:{settings.gateway_port}"


def drive(
    settings: Settings,
    rows: Sequence[dict[str, Any]],
    actuals: Sequence[float],
    *,
    rate_per_s: float = 60.0,
    feedback: bool = True,
) -> list[Served]:
    """Predict every row through the gateway, then post its true price as feedback."""
    return asyncio.run(_drive(gateway_url(settings), rows, actuals, rate_per_s, feedback))


async def _drive(
    base: str,
    rows: Sequence[dict[str, Any]],
    actuals: Sequence[float],
    rate_per_s: float,
    feedback: bool,
) -> list[Served]:
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT, keepalive_timeout=1.0)
    timeout = aiohttp.ClientTimeout(total=15)
    run = uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        start = time.monotonic() + 0.1

        async def one(i: int) -> Served:
            await asyncio.sleep(max(0.0, start + i / rate_per_s - time.monotonic()))
            async with gate:
                body = {**rows[i], "key": f"{run}-{i}"}
                return await _predict_and_feed(http, body, float(actuals[i]), feedback)

        return await asyncio.gather(*(one(i) for i in range(len(rows))))


async def _predict_and_feed(
    http: aiohttp.ClientSession, body: dict[str, Any], actual: float, feedback: bool
) -> Served:
    try:
        async with http.post("/v1/predict", json=body) as resp:
            status, answer = resp.status, await resp.json()
    except (aiohttp.ClientError, TimeoutError):
        return Served(0, None, None, None, actual, None)
    if status != 200:
        return Served(status, None, None, None, actual, None)
    request_id = answer["request_id"]
    fed = None
    if feedback:
        sent = {"request_id": request_id, "actual_price_lakhs": actual}
        try:
            async with http.post("/v1/feedback", json=sent) as resp:
                fed = resp.status
        except (aiohttp.ClientError, TimeoutError):
            fed = 0
    return Served(status, request_id, answer["variant"], answer["model_version"], actual, fed)
