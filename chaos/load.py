"""The chaos client: open-loop predictions with keys, and feedback for every answer.

Arrivals follow a schedule, so a slow or dead service cannot slow the sender. It acts
as a load balancer would in front of two gateways: a refused connection (nothing was
sent) goes to the other gateway; a connection dropped after the request was sent is
recorded as dropped, never retried, so no request is counted twice.

Each request opens its own connection: a pooled connection to a gateway killed
meanwhile would fail in a way that cannot tell "not sent" from "sent".
"""

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

#: Most requests in flight at once; beyond it arrivals queue in the client.
MAX_IN_FLIGHT = 256
#: How long past the gateway's own deadline the client keeps waiting, to measure lateness.
LATE_WAIT_S = 8.0

Kind = Literal["predict", "feedback"]


@dataclass(frozen=True)
class Answer:
    """One HTTP call as the client saw it. ``status`` 0: no HTTP answer came back."""

    kind: Kind
    index: int
    sent_at: float  # time.monotonic() when the call was made
    waited_s: float
    gateway: str | None
    status: int
    json_body: bool
    error: str | None
    request_id: str | None = None
    event_id: str | None = None
    price_lakhs: float | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class Call:
    kind: Kind
    index: int
    path: str
    body: dict[str, Any]


async def drive(
    gateways: Sequence[str],
    bodies: Sequence[dict[str, Any]],
    actuals: Sequence[float],
    *,
    rate_per_s: float,
    reply_timeout_s: float,
    stop: threading.Event | None = None,
) -> list[Answer]:
    """Predict every body on schedule, then post its true price as feedback.

    ``stop``: once set, no more predictions are sent (those in flight finish).
    """
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT, force_close=True)
    timeout = aiohttp.ClientTimeout(total=reply_timeout_s + LATE_WAIT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        start = time.monotonic() + 0.1

        async def one(i: int) -> list[Answer]:
            first = gateways[i % len(gateways)]
            order = [first, *(g for g in gateways if g != first)]
            predicted = await call(http, order, Call("predict", i, "/v1/predict", bodies[i]))
            if predicted.status != 200 or predicted.request_id is None:
                return [predicted]
            sent = {"request_id": predicted.request_id, "actual_price_lakhs": actuals[i]}
            fed = await call(http, order, Call("feedback", i, "/v1/feedback", sent))
            return [predicted, fed]

        calls = []
        for i in range(len(bodies)):
            await asyncio.sleep(max(0.0, start + i / rate_per_s - time.monotonic()))
            if stop is not None and stop.is_set():
                break
            calls.append(asyncio.create_task(one(i)))
        answers = await asyncio.gather(*calls)
    return [answer for pair in answers for answer in pair]


async def call(http: aiohttp.ClientSession, gateways: Sequence[str], request: Call) -> Answer:
    """POST to the first gateway that accepts the connection."""
    sent_at = time.monotonic()
    for gateway in gateways:
        try:
            async with http.post(gateway + request.path, json=request.body) as resp:
                body = await _json_or_none(resp)
                return _answer(request, sent_at, gateway, resp.status, body)
        except aiohttp.ClientConnectorError:
            continue  # refused: nothing was sent, the next gateway may take it
        except (aiohttp.ClientError, TimeoutError) as error:
            return Answer(
                request.kind, request.index, sent_at, time.monotonic() - sent_at, gateway,
                0, False, f"{type(error).__name__}: {error}"[:200],
            )  # fmt: skip
    return Answer(
        request.kind, request.index, sent_at, time.monotonic() - sent_at, None,
        0, False, "no gateway accepted the connection",
    )  # fmt: skip


async def _json_or_none(resp: aiohttp.ClientResponse) -> dict[str, Any] | None:
    try:
        body = await resp.json(content_type=None)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _answer(
    request: Call, sent_at: float, gateway: str, status: int, body: dict[str, Any] | None
) -> Answer:
    ok = body or {}
    return Answer(
        kind=request.kind,
        index=request.index,
        sent_at=sent_at,
        waited_s=time.monotonic() - sent_at,
        gateway=gateway,
        status=status,
        json_body=body is not None,
        error=None if status < 400 else str(ok.get("error", "no error field")),
        request_id=ok.get("request_id"),
        event_id=ok.get("event_id"),
        price_lakhs=ok.get("price_lakhs"),
        model_version=ok.get("model_version"),
    )
