"""Admission control: at most ``max_in_flight`` predictions at once, and none while the
event loop lags more than ``max_loop_lag_s``; beyond, 503 at once.

Past saturation an open-loop load keeps arriving; work accepted beyond what the system
can finish before the deadline only makes every request late, and goodput collapses.
Refusing the excess at the door, before any parsing or Kafka work, keeps the accepted
requests fast. It is pure ASGI, outside FastAPI, so a refusal costs a few microseconds
and a pre-encoded body. Clients get ``Retry-After``; load balancers can retry elsewhere.
"""

import asyncio
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import PREDICTION_PATHS, error_body
from gateway.loop_lag import LoopLag

RETRY_AFTER_S = 1


def refusal_body(max_in_flight: int) -> bytes:
    return orjson.dumps(
        error_body(
            "overloaded",
            f"the gateway already has {max_in_flight} predictions in flight; retry later",
            allowed={"max_in_flight": max_in_flight},
        )
    )


def lagging_body(max_loop_lag_s: float) -> bytes:
    max_ms = round(max_loop_lag_s * 1000)
    return orjson.dumps(
        error_body(
            "overloaded",
            f"the gateway runs more than {max_ms} ms behind its requests; retry later",
            allowed={"max_loop_lag_ms": max_ms},
        )
    )


class AdmissionMiddleware:
    """Counts prediction requests in flight and refuses those past ``max_in_flight``, or
    any while the loop lags more than ``max_loop_lag_s`` (0: never for lag)."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, max_loop_lag_s: float = 0.0) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_loop_lag_s = max_loop_lag_s
        self.in_flight = 0
        self.lag = LoopLag()
        self._full = _refusal(refusal_body(max_in_flight))
        self._lagging = _refusal(lagging_body(max_loop_lag_s))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = PREDICTION_PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if api is None:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal()
        if refusal is not None:
            _count_refusal(scope, api)
            headers, body = refusal
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _refusal(self) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """The refusal to send now, or None to admit."""
        if self.max_loop_lag_s > 0:
            self.lag.saw_request(asyncio.get_running_loop())
        if self.in_flight >= self.max_in_flight:
            return self._full
        if self.max_loop_lag_s > 0 and self.lag.lag_s > self.max_loop_lag_s:
            return self._lagging
        return None


def _refusal(body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
    ]
    return headers, body


def _count_refusal(scope: Scope, api: str) -> None:
    gateway: Any = getattr(scope["app"].state, "gateway", None)
    if gateway is not None:
        gateway.metrics.refused(api)
